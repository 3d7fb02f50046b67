"""Which files an answer may come from: ``--include`` and ``--exclude`` globs over root-relative paths.

A pattern means what it would mean in a ``.gitignore`` at the indexed root (``pathspec``'s
``GitIgnoreSpec``): ``src/**/*.py``, ``*.md`` (at any depth), ``tests/`` or ``tests`` (the folder
and everything under it), ``app/models.py`` (that file), ``!docs/old/**`` (an exception to an
earlier pattern of the same list). A file is kept when some ``include`` pattern matches it (every
file, with no include patterns) and no ``exclude`` pattern does.

Search applies the filter to every signal's candidates before they are cut to ``k``, so
``-k 5 --include 'docs/**'`` gives five hits in ``docs`` whenever ``docs`` has five that match;
files outside the filter may still lead the structure signals to files inside it (a definition in
``src`` to the tests that call it under ``--include 'tests/**'``), but are never returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pathspec

from exocortex.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa


def _patterns(values: Sequence[str] | str | None, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"an empty --{what} glob ({value!r}): pass a pattern such as 'src/**/*.py'")
        if any(c in value for c in "\n\r\x00"):
            raise UsageError(f"the --{what} glob {value!r} holds a line break or a NUL character")
        text = value.strip()
        out.append(text[2:] if text.startswith("./") else text)
    return tuple(out)


def _spec(patterns: tuple[str, ...], what: str) -> pathspec.GitIgnoreSpec | None:
    if not patterns:
        return None
    try:
        return pathspec.GitIgnoreSpec.from_lines(patterns)
    except (ValueError, TypeError) as exc:  # GitIgnorePatternError is a ValueError
        raise UsageError(f"bad --{what} glob: {exc} (gitignore syntax, e.g. 'src/**/*.py', '*.md', 'tests/')") from None


@dataclass(frozen=True)
class PathFilter:
    """Include and exclude globs, checked when made; ``key`` names the filter in a cache key."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]
    _include: pathspec.GitIgnoreSpec | None
    _exclude: pathspec.GitIgnoreSpec | None

    @classmethod
    def of(cls, include: Sequence[str] | str | None = None,
           exclude: Sequence[str] | str | None = None) -> PathFilter | None:
        """The filter, or None when there are no patterns. A blank or unreadable glob is a ``UsageError``."""
        inc, exc = _patterns(include, "include"), _patterns(exclude, "exclude")
        if not inc and not exc:
            return None
        return cls(inc, exc, _spec(inc, "include"), _spec(exc, "exclude"))

    @property
    def key(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.include, self.exclude

    def allows(self, path: str) -> bool:
        if self._include is not None and not self._include.match_file(path):
            return False
        return not (self._exclude is not None and self._exclude.match_file(path))

    def file_mask(self, paths: pa.Array | Sequence[str]) -> np.ndarray:
        """Whether each of ``paths`` is allowed, as a boolean array."""
        values = paths.to_pylist() if hasattr(paths, "to_pylist") else list(paths)
        return np.fromiter((self.allows(p) for p in values), bool, len(values))

    def describe(self) -> str:
        """The filter in words, for a message: ``--include 'docs/**' --exclude '*.md'``."""
        return " ".join([*(f"--include {p!r}" for p in self.include), *(f"--exclude {p!r}" for p in self.exclude)])
