"""The ignore rules in force for one directory: which ignore files, in what precedence.

Each ignore file is compiled and matched by :mod:`exocortex.sources.patterns`;
the walker (:func:`exocortex.sources.files.walk_source_files`) finds them, with
the help of :mod:`exocortex.sources.git` inside a git work tree, and pushes them
onto an :class:`IgnoreRules` as it goes down the tree. An excluded directory is
not entered, so nothing below it can be re-included.

Precedence (highest first), as ripgrep orders them: the extra ignore files of
``Config.extra_ignore_files`` (the last name first), each kind deepest
directory first, then every ``.gitignore`` deepest first, then
``.git/info/exclude``, then git's global excludes file, then the built-in
defaults (outside git only). Within one file the last matching pattern wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from exocortex.sources.patterns import ALWAYS, IgnoreFile, compile_ignore_file

__all__ = [
    "DEFAULT_IGNORE_PATTERNS",
    "Decision",
    "IgnoreRules",
    "default_ignore_file",
]

DEFAULT_IGNORE_PATTERNS: tuple[str, ...] = (
    # version control
    ".git/",
    ".hg/",
    ".svn/",
    ".bzr/",
    # dependencies and tool caches
    "node_modules/",
    "__pycache__/",
    ".tox/",
    ".nox/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    "*.egg-info/",
    # Python and JavaScript build output, only at the top of the root
    "/build/",
    "/dist/",
    # our own store
    ".exocortex/",
)
"""Skipped outside a git work tree when ``Config.use_default_ignores`` is on.

Lowest precedence: a ``.gitignore``, ``.ignore`` or ``.exocortexignore`` line such
as ``!/build/`` brings a directory back. Besides these patterns the walker skips
any directory below the root that holds a ``pyvenv.cfg`` (a virtualenv, whatever
its name) or a valid ``CACHEDIR.TAG`` (a cache such as Cargo's ``target/``).
"""


@cache
def default_ignore_file() -> IgnoreFile:
    compiled = compile_ignore_file("\n".join(DEFAULT_IGNORE_PATTERNS).encode(), b"", source="<defaults>", git=False)
    assert compiled is not None
    return compiled


Decision = tuple[bool, bool]
"""(ignored, decided by a file git knows)."""
_NO_BLOBS = (b"", b"", b"")


class IgnoreRules:
    """The ignore files in force for one directory, in precedence order.

    ``layers[k]`` holds the files of kind k, deepest first; kinds are ordered
    highest precedence first. Immutable: :meth:`push` returns a new object.
    """

    __slots__ = ("layers", "files", "conditional", "needs_path")

    def __init__(self, layers: tuple[tuple[IgnoreFile, ...], ...]) -> None:
        self.layers = layers
        self.files = tuple(f for layer in layers for f in layer)
        self.conditional = tuple(f for f in self.files if f.conditional)
        self.needs_path = any(f.needs_path for f in self.files)

    @classmethod
    def empty(cls, kinds: int) -> IgnoreRules:
        return cls(((),) * kinds)

    def push(self, found: Iterable[tuple[int, IgnoreFile]]) -> IgnoreRules:
        layers = list(self.layers)
        for kind, ignore_file in found:
            layers[kind] = (ignore_file, *layers[kind])
        return IgnoreRules(tuple(layers))

    def match(
        self, dir_names: list[str], other_names: list[str], directory: bytes
    ) -> tuple[dict[str, Decision], dict[str, Decision]]:
        """Decisions for the subdirectories and the other entries of ``directory``.

        ``directory`` is relative to the top of the tree, ``b""`` or ending in
        ``/``. Only names that some pattern matches appear in the results.
        """
        dec_dirs: dict[str, Decision] = {}
        dec_others: dict[str, Decision] = {}
        if not self.files:
            return dec_dirs, dec_others
        blob_dirs = self._blob(dir_names, directory)
        blob_others = self._blob(other_names, directory)
        if blob_dirs is None or blob_others is None:  # a name holds a newline
            return (
                self._match_slowly(dir_names, directory, True),
                self._match_slowly(other_names, directory, False),
            )
        for ignore_file in self.files:
            git = ignore_file.git
            in_force = ignore_file.in_force(directory) if ignore_file.conditional else ALWAYS
            for blobs, is_dir, decided in (
                (blob_dirs, True, dec_dirs),
                (blob_others, False, dec_others),
            ):
                if blobs is not _NO_BLOBS:
                    for name_b, ignored in ignore_file.match_blobs(blobs, in_force, is_dir).items():
                        name = name_b.decode("utf-8", "surrogateescape")
                        if name not in decided:
                            decided[name] = (ignored, git)
        return dec_dirs, dec_others

    def _blob(self, names: list[str], directory: bytes) -> tuple[bytes, bytes, bytes] | None:
        if not names:
            return _NO_BLOBS
        joined = "\n".join(names)
        if joined.count("\n") != len(names) - 1:
            return None
        blob = b"\n" + joined.encode("utf-8", "surrogateescape") + b"\n"
        # the paths, only when some pattern needs them (one C-level replace, no loop)
        paths = blob.replace(b"\n", b"\n" + directory)[: -len(directory) or None] if self.needs_path else b""
        return blob, blob[::-1], paths

    def _match_slowly(self, names: list[str], directory: bytes, is_dir: bool) -> dict[str, Decision]:
        decided: dict[str, Decision] = {}
        for name in names:
            d = self.match_one(name.encode("utf-8", "surrogateescape"), directory, is_dir)
            if d is not None:
                decided[name] = d
        return decided

    def match_one(self, name: bytes, directory: bytes, is_dir: bool) -> Decision | None:
        """The decision for one entry ``name`` of ``directory``."""
        for ignore_file in self.files:
            ignored = ignore_file.match_one(name, directory, is_dir)
            if ignored is not None:
                return (ignored, ignore_file.git)
        return None
