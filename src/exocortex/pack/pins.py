"""Pinned files: paths a caller wants in the pack first, whatever the ranking says.

A pin names a file as the index knows it: relative to the indexed root, ``/``-separated
(``src/app/models.py``), or absolute inside the root. The pack reads pinned files from the index,
never from the disk, so a pin can only name what was indexed; one that leads out of the root
(``../x``, an absolute path elsewhere) is refused before anything is read.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from pathlib import Path

from exocortex.errors import InputPathError, PathOutsideRootError


def pinned_paths(root: Path, pins: Sequence[str | os.PathLike[str]] | str | None) -> tuple[str, ...]:
    """``pins`` as root-relative ``/``-separated paths, in order, each once.

    Raises ``PathOutsideRootError`` for a pin that leads out of ``root`` and ``InputPathError`` for
    an empty one, one with a NUL character, or the root itself.
    """
    if pins is None:
        return ()
    if isinstance(pins, (str, os.PathLike)):
        pins = [pins]
    out: dict[str, None] = {}
    for pin in pins:
        out[_relative(root, pin)] = None
    return tuple(out)


def _relative(root: Path, pin: object) -> str:
    if isinstance(pin, os.PathLike):
        pin = os.fspath(pin)
    if not isinstance(pin, str) or not pin.strip():
        raise InputPathError(f"--pin {pin!r} is empty: pass the path of an indexed file, relative to the root")
    if "\x00" in pin:
        raise InputPathError(f"--pin {pin!r} holds a NUL character")
    if os.path.isabs(pin):
        candidate = os.path.normpath(pin)
        rel = None
        for base in dict.fromkeys((os.path.abspath(root), os.path.realpath(root))):
            if candidate.startswith(base.rstrip(os.sep) + os.sep):
                rel = os.path.relpath(candidate, base)
                break
        if rel is None:
            resolved = os.path.realpath(candidate)
            real_root = os.path.realpath(root)
            if not resolved.startswith(real_root.rstrip(os.sep) + os.sep):
                raise PathOutsideRootError(f"--pin {pin} is outside the indexed root {root}: pin a file inside it")
            rel = os.path.relpath(resolved, real_root)
        pin = rel
    text = posixpath.normpath(pin.replace(os.sep, "/"))
    if text == ".." or text.startswith("../"):
        raise PathOutsideRootError(f"--pin {pin} leads outside the indexed root {root}: pin a file inside it")
    if text in (".", "/"):
        raise InputPathError(f"--pin {pin} is the root itself: pin a file, such as src/app.py")
    return text
