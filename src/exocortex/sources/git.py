"""Git discovery: the work tree around a root, and what only git can tell about it.

:func:`find_git_work_tree` looks for a ``.git`` on disk first (so a tree outside
git costs no process), then asks git itself (``git rev-parse``) for the work
tree's top and its common git directory (which holds ``info/exclude``),
``git config core.excludesFile`` for the global excludes file (or its XDG
default), and ``git ls-files -z --cached`` for the tracked paths, which a
pattern cannot exclude (:class:`TrackedPaths`, read lazily). Without git, or
when git refuses a repository, the work tree is still recognised from disk and
its rules apply, but the tracked paths are unknown. :func:`is_git_repository`
decides, as git does, whether a ``.git`` entry makes a directory a repository
(the walker reports nested repositories with it).

Nothing here reads an ignore pattern: that is :mod:`exocortex.sources.patterns`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from bisect import bisect_left
from dataclasses import dataclass
from functools import cache

__all__ = [
    "GitWorkTree",
    "TrackedPaths",
    "find_git_work_tree",
    "is_git_repository",
]


def is_git_repository(dotgit: str) -> bool:
    """Whether ``dotgit`` (a ``.git`` entry) makes its directory a repository, as git decides.

    A directory must look like a git directory (``HEAD``, ``objects/``, ``refs/``);
    a file must be a ``gitdir: <path>`` link to one (or unreadable, which git
    also counts as a repository).
    """
    if os.path.isdir(dotgit):
        return _looks_like_git_dir(dotgit)
    try:
        with open(dotgit, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return os.path.lexists(dotgit)
    target = _parse_gitfile(head, os.path.dirname(dotgit))
    return target is not None and _looks_like_git_dir(target)


def _looks_like_git_dir(path: str) -> bool:
    """git's is_git_directory: ``HEAD`` here, ``objects/`` and ``refs/`` in the common dir."""
    if not os.path.lexists(os.path.join(path, "HEAD")):
        return False
    common = _read_commondir(path)
    return os.path.isdir(os.path.join(common, "objects")) and os.path.isdir(os.path.join(common, "refs"))


def _read_commondir(gitdir: str) -> str:
    """The common git directory of ``gitdir`` (itself, unless it is a linked worktree's)."""
    try:
        with open(os.path.join(gitdir, "commondir"), "rb") as fh:
            common = os.fsdecode(fh.read().strip())
    except OSError:
        return gitdir
    return os.path.normpath(os.path.join(gitdir, common))


def _parse_gitfile(head: bytes, where: str) -> str | None:
    if not head.startswith(b"gitdir: "):
        return None
    target = os.fsdecode(head[8:].splitlines()[0].strip()) if head[8:].strip() else ""
    if not target:
        return None
    return os.path.normpath(os.path.join(where, target))


class TrackedPaths:
    """The paths git tracks below the root (``git ls-files -z --cached``), read lazily.

    The listing is started before the walk and read the first time a question
    needs it (the walk asks only at its end), so its cost hides behind the walk;
    a walk that meets no ignored path never reads it. Questions are answered by
    bisection in the sorted list: they are few, and no set is built.
    """

    __slots__ = ("_proc", "_sorted")

    def __init__(self, proc: subprocess.Popen[bytes] | None) -> None:
        self._proc = proc
        self._sorted: list[str] | None = None if proc is not None else []

    def _load(self) -> list[str]:
        if self._sorted is None:
            assert self._proc is not None
            try:
                out, _ = self._proc.communicate(timeout=_GIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _stop(self._proc)
                out = b""
            paths = os.fsdecode(out).split("\0") if out and self._proc.returncode == 0 else []
            if paths and paths[-1] == "":
                paths.pop()
            paths.sort()  # git's byte order is already this order for UTF-8 names: one pass
            self._sorted = paths
            self._proc = None
        return self._sorted

    def __contains__(self, rel: str) -> bool:
        paths = self._load()
        i = bisect_left(paths, rel)
        return i < len(paths) and paths[i] == rel

    def has_under(self, rel_dir: str) -> bool:
        """Whether some tracked path lies below ``rel_dir`` (root-relative, no slash)."""
        paths = self._load()
        prefix = rel_dir + "/"
        i = bisect_left(paths, prefix)
        return i < len(paths) and paths[i].startswith(prefix)

    def close(self) -> None:
        """Stop the listing if nobody needed it."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.communicate()
            self._proc = None
            self._sorted = []


@dataclass
class GitWorkTree:
    """The git work tree around a root."""

    top: str  # real path of the work tree's top directory
    git_dir: str | None  # the (common) git directory: holds info/exclude
    excludes_file: str | None  # core.excludesFile or its XDG default
    tracked: TrackedPaths
    exact: bool  # False when git could not be run: tracked files are then unknown


@cache
def _git_executable() -> str | None:
    return shutil.which("git")


def _default_excludes_file() -> str | None:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        return os.path.join(xdg, "git", "ignore")
    home = os.environ.get("HOME")
    return os.path.join(home, ".config", "git", "ignore") if home else None


def _find_dotgit(root: str) -> tuple[str, str] | None:
    """(top, path of .git) of the nearest enclosing repository found on disk."""
    d = root
    while True:
        dotgit = os.path.join(d, ".git")
        if os.path.lexists(dotgit) and is_git_repository(dotgit):
            return d, dotgit
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _common_dir(dotgit: str) -> str | None:
    if os.path.isdir(dotgit):
        return _read_commondir(dotgit)
    try:
        with open(dotgit, "rb") as fh:
            gitdir = _parse_gitfile(fh.read(4096), os.path.dirname(dotgit))
    except OSError:
        return None
    return None if gitdir is None else _read_commondir(gitdir)


def find_git_work_tree(root: str) -> GitWorkTree | None:
    """The git work tree that holds ``root`` (a real path), or None.

    Looks for a ``.git`` on disk first, so a tree outside git costs no process.
    With git on PATH, ``git rev-parse`` is authoritative and ``git ls-files`` and
    ``git config core.excludesFile`` run alongside; without git (or if git
    refuses, e.g. for a repository owned by another user) the work tree is
    still recognised from disk but tracked files are unknown.
    """
    found = _find_dotgit(root)
    env_dir = os.environ.get("GIT_DIR")
    if found is None and not env_dir:
        return None
    if found is not None:
        rel = os.path.relpath(root, found[0])
        if rel == ".git" or rel.startswith(".git" + os.sep):
            return None  # inside the git directory, not the work tree
    git = _git_executable()
    if git is not None:
        tree = _ask_git(git, root)
        if tree is not None:
            return tree if tree.top else None
    if found is None:
        return None
    top, dotgit = found
    return GitWorkTree(
        top=top,
        git_dir=_common_dir(dotgit),
        excludes_file=_default_excludes_file(),
        tracked=TrackedPaths(None),
        exact=False,
    )


_GIT_TIMEOUT_S = 60.0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.communicate()


def _warn(event: str, **fields: object) -> None:
    from exocortex.log import get_logger

    with contextlib.suppress(OSError, ValueError):  # a broken log stream must not stop the walk
        get_logger(__name__).warning(event, **fields)


def _ask_git(git: str, root: str) -> GitWorkTree | None:
    """Ask git; None if it cannot answer, an empty ``top`` for "not in a work tree"."""
    pipe = subprocess.PIPE
    null = subprocess.DEVNULL
    started: list[subprocess.Popen[bytes]] = []
    try:
        for args in (
            ("rev-parse", "--is-inside-work-tree", "--show-toplevel", "--git-common-dir"),
            ("config", "--path", "--get", "core.excludesFile"),
            ("ls-files", "-z", "--cached"),
        ):
            started.append(subprocess.Popen([git, *args], cwd=root, stdin=null, stdout=pipe, stderr=pipe))
        rev, cfg, ls = started
        rev_out, rev_err = rev.communicate(timeout=_GIT_TIMEOUT_S)
        cfg_out, _ = cfg.communicate(timeout=_GIT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        for proc in started:
            _stop(proc)
        _warn("git did not answer: tracked files that ignore rules match are not listed", error=str(exc))
        return None
    lines = os.fsdecode(rev_out).splitlines()
    if rev.returncode != 0 or len(lines) < 3:
        _stop(ls)
        if rev.returncode != 0 and b"not a git repository" not in rev_err:
            reason = os.fsdecode(rev_err).strip().splitlines()
            _warn(
                "git refused to list this repository: tracked files that ignore rules match are not listed",
                root=root,
                git_said=reason[0] if reason else "",
            )
        return None
    if lines[0].strip() != "true":
        _stop(ls)
        return GitWorkTree("", None, None, TrackedPaths(None), True)
    top = os.path.realpath(lines[1])
    common = os.path.normpath(os.path.join(root, lines[2]))
    excludes = os.fsdecode(cfg_out).strip() if cfg.returncode == 0 else ""
    if excludes:
        excludes = os.path.join(top, os.path.expanduser(excludes))
    rel = os.path.relpath(root, top)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        _stop(ls)
        return GitWorkTree("", None, None, TrackedPaths(None), True)
    return GitWorkTree(
        top=top,
        git_dir=common,
        excludes_file=excludes or _default_excludes_file(),
        tracked=TrackedPaths(ls),
        exact=True,
    )
