"""Tasks, corpora and gold edits for the retrieval benchmark.

- :func:`load_tasks` reads the SWE-bench Lite rows (only the projects in :data:`PROJECTS`).
- :func:`prepare_corpus` picks the newest PyPI release of the task's ``major.minor`` series,
  downloads its sdist once (``_common.fetch_sdist``, sha256-checked) and extracts it.
- :func:`parse_patch` reads a unified diff; :func:`edited_lines` gives the lines of the
  original file a hunk removes or changes (or the line before a pure insertion).
- :func:`locate_edits` maps those lines onto the sdist's copy of the file. The sdist is a
  release of the task's series, not the task's ``base_commit``: lines may have moved, and
  often the fix itself was released in it. A hunk is found the way ``patch`` finds it (its
  old side, nearest the header's position); failing that, its new side (the fix is already
  in the sdist: the edited lines are then the lines the fix wrote); failing that, the lines
  the hunk removes alone; failing that, the header's numbers are kept.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import REPO_ROOT, extract_sdist, fetch_sdist, log  # noqa: E402

CACHE = REPO_ROOT / "benchmarks" / ".cache" / "retrieval"
DEFAULT_TASKS = Path("/work/shared/bench/swe-bench-lite-dev.jsonl")
INDEX_URL = "https://pypi.org/simple"

# SWE-bench repository -> (short project name, PyPI distribution). Tasks of any other
# repository are refused: the other SWE-bench repositories are reserved for later.
PROJECTS = {
    "django/django": ("django", "Django"),
    "scikit-learn/scikit-learn": ("sklearn", "scikit-learn"),
    "matplotlib/matplotlib": ("matplotlib", "matplotlib"),
}


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    instance_id: str
    repo: str
    version: str  # the release series, e.g. "3.1"
    problem_statement: str
    patch: str
    gold_files: tuple[str, ...]

    @property
    def project(self) -> str:
        return PROJECTS[self.repo][0]

    @property
    def distribution(self) -> str:
        return PROJECTS[self.repo][1]


def load_tasks(path: Path, projects: Iterable[str] | None = None) -> list[Task]:
    """The tasks of ``path`` in file order, optionally only those of ``projects`` (short names)."""
    wanted = set(projects) if projects else None
    tasks = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            if row["repo"] not in PROJECTS:
                raise SystemExit(f"{row['instance_id']}: repository {row['repo']} is not part of this benchmark")
            task = Task(
                instance_id=row["instance_id"],
                repo=row["repo"],
                version=str(row["version"]),
                problem_statement=row["problem_statement"],
                patch=row["patch"],
                gold_files=tuple(row["gold_files"]),
            )
            if wanted is None or task.project in wanted:
                tasks.append(task)
    return tasks


# --------------------------------------------------------------------------- corpora


def _simple_api_files(distribution: str, index_url: str) -> list[dict]:
    """The file entries of ``distribution`` on a PEP 691 JSON simple index (as fetch_sdist reads it)."""
    name = re.sub(r"[-_.]+", "-", distribution).lower()
    url = f"{index_url.rstrip('/')}/{name}/"
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=120) as resp:
        return list(json.load(resp).get("files", []))


def newest_release(distribution: str, series: str, index_url: str = INDEX_URL) -> str:
    """The newest final release ``series.*`` of ``distribution`` that has a ``.tar.gz`` sdist.

    Cached in ``benchmarks/.cache/retrieval/releases.json`` so that later runs need no network.
    """
    cache_file = CACHE / "releases.json"
    cached = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    key = f"{distribution}=={series}.*"
    if key in cached:
        return str(cached[key])
    want = Version(series).release[:2]
    best: Version | None = None
    for entry in _simple_api_files(distribution, index_url):
        filename = str(entry["filename"])
        if not filename.endswith(".tar.gz") or entry.get("yanked"):
            continue
        try:
            version = Version(filename[: -len(".tar.gz")].rpartition("-")[2])
        except InvalidVersion:
            continue
        if version.is_prerelease or version.release[:2] != want:
            continue
        if best is None or version > best:
            best = version
    if best is None:
        raise SystemExit(f"no final {distribution} {series}.x sdist on {index_url}")
    cached[key] = str(best)
    CACHE.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(cached, indent=1, sort_keys=True) + "\n")
    return str(best)


@dataclass(frozen=True)
class Corpus:
    project: str
    distribution: str
    series: str
    release: str
    tree: Path  # the sdist's top folder: paths below it match the repository's paths
    store: Path

    @property
    def label(self) -> str:
        return f"{self.project}-{self.release}"


def prepare_corpus(task: Task, index_url: str = INDEX_URL) -> Corpus:
    release = newest_release(task.distribution, task.version, index_url)
    archive = fetch_sdist(task.distribution, release, CACHE / "sdists", index_url)
    tree = extract_sdist(archive, CACHE / "src")
    if not (tree / ".git").exists():
        # The cache lives inside this repository, whose .gitignore ignores it: a git-aware
        # indexer would see nothing there. An empty repository of its own makes the tree a
        # work tree (every file untracked, the sdist's own ignore files honoured), the way a
        # fresh checkout is. Nothing is added or committed.
        subprocess.run(["git", "init", "-q", str(tree)], check=True)
    store = CACHE / "stores" / f"{task.project}-{release}"
    return Corpus(task.project, task.distribution, task.version, release, tree, store)


_TEST_DIRS = {"tests", "test", "testing"}


def is_test_path(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return any(p in _TEST_DIRS for p in parts[:-1]) or name.startswith("test_") or name.endswith("_test.py")


def python_sources(tree: Path) -> list[str]:
    """Non-test ``.py`` files under ``tree`` (relative posix paths, sorted)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        rel_dir = Path(dirpath).relative_to(tree).as_posix()
        for name in filenames:
            if not name.endswith(".py"):
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not is_test_path(rel) and os.path.isfile(os.path.join(dirpath, name)):
                out.append(rel)
    return sorted(out)


def read_lines(path: Path) -> list[str]:
    """The lines of a source file without their line endings (as a 1-based list minus one)."""
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


# --------------------------------------------------------------------------- naming


def dotted_module(path: str, tree: Path) -> str | None:
    """``django/core/validators.py`` -> ``django.core.validators``, walking up the packages
    (folders with an ``__init__.py``), so ``lib/matplotlib/axes/_base.py`` -> ``matplotlib.axes._base``."""
    parts = path[: -len(".py")].split("/") if path.endswith(".py") else None
    if not parts:
        return None
    if parts[-1] == "__init__":
        parts = parts[:-1]
    start = len(parts) - 1
    while start > 0 and (tree / "/".join(parts[:start]) / "__init__.py").is_file():
        start -= 1
    if start < len(parts) - 1 and not (tree / "/".join(parts[: start + 1]) / "__init__.py").is_file():
        start += 1
    module = parts[start:]
    return ".".join(module) if module else None


def names_file(text: str, path: str, tree: Path) -> bool:
    """Whether ``text`` names ``path``: its path, its dotted module, or its file name.

    The bare file name ``__init__.py`` names no particular file and is not counted.
    """
    if path in text:
        return True
    module = dotted_module(path, tree)
    if module and "." in module and re.search(rf"(?<![\w.]){re.escape(module)}(?!\w)", text):
        return True
    name = path.rsplit("/", 1)[-1]
    return name != "__init__.py" and re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text) is not None


# --------------------------------------------------------------------------- diffs


@dataclass
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" " | "-" | "+", text)


@dataclass
class FilePatch:
    old_path: str | None  # None for a new file (--- /dev/null)
    new_path: str | None  # None for a deleted file
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.old_path or self.new_path or ""


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _strip_prefix(name: str) -> str | None:
    name = name.split("\t", 1)[0].strip()
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


def parse_patch(text: str) -> list[FilePatch]:
    """The files and hunks of a unified diff (git style or plain ``---``/``+++`` headers).

    Hunk bodies are read by the line counts of their headers, so a removed line that itself
    starts with ``--`` is never mistaken for a file header.
    """
    files: list[FilePatch] = []
    current: FilePatch | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            current = FilePatch(_strip_prefix(line[4:]), _strip_prefix(lines[i + 1][4:]))
            files.append(current)
            i += 2
            continue
        match = _HUNK.match(line)
        if match and current is not None:
            old_start, old_len, new_start, new_len = (
                int(g) if g is not None else 1 for g in match.groups()
            )
            hunk = Hunk(old_start, old_len, new_start, new_len)
            old_left, new_left = old_len, new_len
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0):
                body = lines[i]
                tag, rest = (body[:1], body[1:]) if body else (" ", "")
                if tag == "\\":  # "\ No newline at end of file"
                    i += 1
                    continue
                if tag == " ":
                    old_left -= 1
                    new_left -= 1
                elif tag == "-":
                    old_left -= 1
                elif tag == "+":
                    new_left -= 1
                else:
                    raise ValueError(f"bad hunk line {body!r}")
                hunk.lines.append((tag, rest))
                i += 1
            if old_left != 0 or new_left != 0:
                raise ValueError(f"hunk @@ -{old_start},{old_len} +{new_start},{new_len} @@ is cut short")
            current.hunks.append(hunk)
            continue
        i += 1
    return files


def _blocks(hunk: Hunk) -> list[tuple[int, int, int, int]]:
    """Runs of changed lines: (index in hunk.lines, old line number, removed, added)."""
    out = []
    old = hunk.old_start
    j = 0
    while j < len(hunk.lines):
        tag = hunk.lines[j][0]
        if tag == " ":
            old += 1
            j += 1
            continue
        start, first_old, removed, added = j, old, 0, 0
        while j < len(hunk.lines) and hunk.lines[j][0] != " ":
            if hunk.lines[j][0] == "-":
                removed += 1
                old += 1
            else:
                added += 1
            j += 1
        out.append((start, first_old, removed, added))
    return out


def edited_lines(hunk: Hunk) -> list[int]:
    """Old-file lines the hunk removes or changes; for a pure insertion, the line before it (or 1)."""
    out: list[int] = []
    for _, first_old, removed, _ in _blocks(hunk):
        if removed:
            out.extend(range(first_old, first_old + removed))
        else:
            out.append(max(1, first_old - 1))
    return out


def removed_lines(hunk: Hunk) -> list[tuple[int, str]]:
    """(old line number, text) of every '-' line."""
    out = []
    old = hunk.old_start
    for tag, text in hunk.lines:
        if tag == "-":
            out.append((old, text))
        if tag != "+":
            old += 1
    return out


# --------------------------------------------------------------------------- relocation


def _norm(text: str) -> str:
    return text.rstrip()


def _find(needle: list[str], hay: list[str], near: int) -> int | None:
    """0-based start of ``needle`` in ``hay`` nearest to ``near`` (0-based), or None."""
    if not needle or len(needle) > len(hay):
        return None
    first = needle[0]
    best: int | None = None
    for pos, line in enumerate(hay):
        if line == first and hay[pos : pos + len(needle)] == needle:
            if best is None or abs(pos - near) < abs(best - near):
                best = pos
    return best


@dataclass
class LocatedEdits:
    lines: list[int]  # edited line numbers in the sdist's copy of the file
    how: str  # "old" (found as in the base), "new" (fix already in the sdist), "removed", "header"
    shifted: bool  # found somewhere other than the header's position


def locate_edits(hunk: Hunk, file_lines: list[str]) -> LocatedEdits:
    """The hunk's edited lines as numbered in ``file_lines`` (the sdist's copy, see module doc)."""
    hay = [_norm(t) for t in file_lines]
    old_side = [_norm(t) for tag, t in hunk.lines if tag != "+"]
    near = hunk.old_start - 1
    pos = _find(old_side, hay, near)
    if pos is not None:
        delta = pos + 1 - hunk.old_start if old_side else 0
        return LocatedEdits([n + delta for n in edited_lines(hunk)], "old", delta != 0)
    new_side = [_norm(t) for tag, t in hunk.lines if tag != "-"]
    pos = _find(new_side, hay, hunk.new_start - 1)
    if pos is not None:
        return LocatedEdits(_fix_lines(hunk, pos + 1), "new", pos + 1 != hunk.old_start)
    gone = removed_lines(hunk)
    if gone:
        # the context changed but the removed lines are intact: find each run of them
        out: list[int] = []
        for j, first_old, removed, added in _blocks(hunk):
            if not removed:
                continue
            run = [_norm(t) for tag, t in hunk.lines[j : j + removed + added] if tag == "-"]
            p = _find(run, hay, first_old - 1)
            if p is None:
                out = []
                break
            out.extend(range(p + 1, p + 1 + removed))
        if out:
            return LocatedEdits(out, "removed", True)
    return LocatedEdits(edited_lines(hunk), "header", False)


def _fix_lines(hunk: Hunk, new_first: int) -> list[int]:
    """Lines of the hunk's new side (starting at ``new_first``) that each change block wrote."""
    out: list[int] = []
    new = new_first
    j = 0
    lines = hunk.lines
    while j < len(lines):
        if lines[j][0] == " ":
            new += 1
            j += 1
            continue
        block_first, added = new, 0
        while j < len(lines) and lines[j][0] != " ":
            if lines[j][0] == "+":
                added += 1
                new += 1
            j += 1
        if added:
            out.extend(range(block_first, block_first + added))
        else:  # a pure removal: the line before the place it was removed from
            out.append(max(1, block_first - 1))
    return out


@dataclass
class GoldEdits:
    """The edited lines of one task's gold files, located in the sdist."""

    lines: dict[str, list[int]]  # gold path -> sorted distinct edited lines (sdist numbering)
    missing: list[str]  # gold files absent from the sdist
    new_files: list[str]  # gold files the patch creates (no edited lines)
    hunks_by_how: dict[str, int]  # located "old" / "new" / "removed" / "header"
    hunks_shifted: int
    removed_total: int  # '-' lines of the patch
    removed_match_header: int  # of those, equal to the sdist line at the header's number
    removed_match_located: int  # of those, equal to the sdist line at the located number

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.lines.values())


def gold_edits(task: Task, tree: Path, relocate: bool = True) -> GoldEdits:
    by_how = {"old": 0, "new": 0, "removed": 0, "header": 0}
    shifted = 0
    lines: dict[str, list[int]] = {}
    missing: list[str] = []
    new_files: list[str] = []
    total = match_header = match_located = 0
    patches = {fp.path: fp for fp in parse_patch(task.patch)}
    for gold in task.gold_files:
        fp = patches.get(gold)
        if fp is None:
            raise ValueError(f"{task.instance_id}: gold file {gold} is not in the patch")
        if fp.old_path is None:
            new_files.append(gold)
            continue
        source = tree / gold
        if not source.is_file():
            missing.append(gold)
            continue
        file_lines = read_lines(source)
        found: set[int] = set()
        for hunk in fp.hunks:
            if relocate:
                located = locate_edits(hunk, file_lines)
            else:
                located = LocatedEdits(edited_lines(hunk), "header", False)
            by_how[located.how] += 1
            shifted += located.shifted
            found.update(located.lines)
            removed = removed_lines(hunk)
            total += len(removed)
            match_header += sum(
                1 for n, t in removed if 0 < n <= len(file_lines) and _norm(file_lines[n - 1]) == _norm(t)
            )
            if located.how in ("old", "removed"):
                delta_lines = _removed_located(hunk, located)
                match_located += sum(
                    1 for n, t in delta_lines if 0 < n <= len(file_lines) and _norm(file_lines[n - 1]) == _norm(t)
                )
        lines[gold] = sorted(found)
    return GoldEdits(lines, missing, new_files, by_how, shifted, total, match_header, match_located)


def _removed_located(hunk: Hunk, located: LocatedEdits) -> list[tuple[int, str]]:
    """The hunk's '-' lines numbered as located (only meaningful for "old"/"removed")."""
    removed = removed_lines(hunk)
    if located.how == "old":
        delta = located.lines[0] - edited_lines(hunk)[0] if located.lines else 0
        return [(n + delta, t) for n, t in removed]
    # "removed": located.lines lists the removed lines in order
    return [(n, t) for n, (_, t) in zip(located.lines, removed, strict=False)]
