"""Files and definitions a query names: paths, dotted modules and traceback frames.

An engineer reading ``File "/venv/lib/site-packages/django/db/models/query.py", line 412,
in get`` or ``sklearn.utils._pprint`` goes straight to that file. :func:`mentions` reads
such names from the query text; :class:`FileNames` finds the indexed files they mean by
matching path components from the end, so an absolute path from someone's machine, a
path relative to a sub-folder and a dotted module all find ``django/db/models/query.py``.

- a path (``a/b/c.py``, ``c.py``) matches the files with that file name whose folders
  agree with the most of the path's folders, nearest first;
- a dotted name (``a.b.c`` or ``a.b.c.Class.method``) is read as a module: its longest
  prefix of at least two parts that is ``a/b/c.py`` or ``a/b/c/__init__.py`` (matched
  on at least two parts, so ``models.CharField`` does not name every ``models.py``);
- a traceback frame names its file and the function it was in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

_FRAME = re.compile(r'File "([^"\n]+)", line \d+, in ([A-Za-z_]\w*)')
_EXTENSIONS = ("py|pyi|pyx|pxd|js|jsx|ts|tsx|mjs|go|rs|java|kt|scala|c|h|cc|cpp|hpp|cs|rb|php|swift|m|"
               "md|rst|txt|toml|json|yaml|yml|cfg|ini|html|css|sh")
_PATH = re.compile(r"(?<![\w:/.\-])(?:[\w.\-]*/)*[\w.\-]*\.(?:" + _EXTENSIONS + r")\b(?![\w\-])(?!\.\w)",
                   re.IGNORECASE)
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b")
_INIT = "__init__"
_MIN_DOTTED_PARTS = 2


@dataclass(frozen=True, slots=True)
class Mention:
    parts: tuple[str, ...]
    """Lower-cased path components; the last one is a file name (``query.py``) or, for a
    dotted name, a module (``query``)."""
    dotted: bool = False
    function: str | None = None
    """For a traceback frame: the function the frame was in."""


def mentions(text: str) -> list[Mention]:
    """The paths, dotted names and traceback frames of ``text``, in order of appearance."""
    found: list[tuple[int, Mention]] = []
    framed: set[tuple[int, int]] = set()
    for match in _FRAME.finditer(text):
        parts = _path_parts(match.group(1))
        if parts:
            found.append((match.start(), Mention(parts, function=match.group(2))))
            framed.add(match.span(1))
    for match in _PATH.finditer(text):
        if any(start <= match.start() < end for start, end in framed):
            continue
        parts = _path_parts(match.group(0))
        if parts:
            found.append((match.start(), Mention(parts)))
    for match in _DOTTED.finditer(text):
        raw = match.group(0)
        before = text[max(0, match.start() - 1) : match.start()]
        if before in ("/", "\\") or _PATH.fullmatch(raw):
            continue  # part of a path, or a file name: read above
        parts = tuple(p.lower() for p in raw.split("."))
        if len(parts) >= _MIN_DOTTED_PARTS:
            found.append((match.start(), Mention(parts, dotted=True)))
    found.sort(key=lambda item: item[0])
    return [m for _, m in found]


def _path_parts(raw: str) -> tuple[str, ...]:
    return tuple(p.lower() for p in raw.replace("\\", "/").split("/") if p and p not in (".", ".."))


class FileNames:
    """The indexed paths by file name, for matching mentions from the end."""

    def __init__(self, paths: pa.Array) -> None:
        self._by_name: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        for i, path in enumerate(paths.to_pylist()):
            parts = tuple(path.lower().split("/"))
            self._by_name.setdefault(parts[-1], []).append((i, parts))

    def files(self, mention: Mention) -> list[int]:
        """The files ``mention`` means (several when it is ambiguous), best match first."""
        if mention.dotted:
            for end in range(len(mention.parts), _MIN_DOTTED_PARTS - 1, -1):
                module = mention.parts[:end]
                for candidate in (module[:-1] + (module[-1] + ".py",), module + (_INIT + ".py",)):
                    best = self._match(candidate, _MIN_DOTTED_PARTS)
                    if best:
                        return best
            return []
        return self._match(mention.parts, 1)

    def _match(self, parts: tuple[str, ...], at_least: int) -> list[int]:
        """Files named ``parts[-1]`` whose path agrees with the most trailing ``parts``."""
        best: list[int] = []
        best_len = 0
        is_init = parts[-1] == _INIT + ".py"
        for file_id, path in self._by_name.get(parts[-1], ()):
            n = _common_suffix(parts, path)
            if is_init:
                n -= 1  # "__init__.py" is how a package is stored, not a part the mention named
            if n < at_least or n < best_len:
                continue
            if n > best_len:
                best, best_len = [], n
            best.append(file_id)
        return best


def _common_suffix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def named_file_values(
    found: list[Mention], names: FileNames, num_files: int
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Per file, how strongly the mentions ``found`` name it (shared by the files of an ambiguous
    one; earlier mentions a little more); and the (file, function) pairs of traceback frames."""
    values = np.zeros(num_files)
    frames: list[tuple[int, str]] = []
    for position, mention in enumerate(found):
        files = names.files(mention)
        if not files:
            continue
        weight = (1.0 + 0.5 / (1 + position)) / len(files)
        values[files] += weight
        if mention.function is not None and len(files) == 1:
            frames.append((files[0], mention.function.lower()))
    return values, frames
