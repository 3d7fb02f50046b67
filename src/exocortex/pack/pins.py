"""Pinned files: paths a caller wants in the pack first, whatever the ranking says.

A pin names a file as the index knows it: relative to the indexed root, ``/``-separated
(``src/app/models.py``), or absolute inside the root. The pack reads pinned files from the index,
never from the disk, so a pin can only name what was indexed; one that leads out of the root
(``../x``, an absolute path elsewhere) is refused before anything is read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from exocortex.errors import InputPathError
from exocortex.sources.files import confine


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
    """``pin`` as the index knows it, confined to ``root`` by :func:`exocortex.sources.files.confine`."""
    if isinstance(pin, os.PathLike):
        pin = os.fspath(pin)
    if not isinstance(pin, str):
        raise InputPathError(f"--pin {pin!r} is not a path: pass the path of an indexed file, relative to the root")
    try:
        full = confine(root, pin)
    except InputPathError as exc:  # PathOutsideRootError included: the same class, said of --pin
        raise type(exc)(f"--pin: {exc.message}") from None
    text = full.relative_to(os.path.realpath(root)).as_posix()
    if text in (".", ""):
        raise InputPathError(f"--pin {pin} is the root itself: pin a file, such as src/app.py")
    return text
