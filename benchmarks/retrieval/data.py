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

import difflib
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

from _common import REPO_ROOT, extract_sdist, fetch_sdist  # noqa: E402

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


def _side(hunk: Hunk, side: str) -> tuple[list[str], list[int]]:
    """The hunk's old (``side="old"``) or new side: its lines, and the indexes of the lines
    that are the edit's place on that side (see :func:`_edit_places`)."""
    drop = "+" if side == "old" else "-"
    texts: list[str] = []
    places: list[int] = []
    j = 0
    lines = hunk.lines
    while j < len(lines):
        if lines[j][0] == " ":
            texts.append(_norm(lines[j][1]))
            j += 1
            continue
        removed = added = 0
        mine: list[int] = []
        while j < len(lines) and lines[j][0] != " ":
            tag, text = lines[j]
            removed += tag == "-"
            added += tag == "+"
            if tag != drop:
                mine.append(len(texts))
                texts.append(_norm(text))
            j += 1
        changed = removed > 0 and added > 0
        if mine and (side == "old" or changed):
            places.extend(mine)  # the removed lines, or the lines that replaced them
        else:
            # a pure insertion (old side) or a pure insertion/removal (new side): the line
            # before the place; -1 stands for "before the hunk's first line"
            places.append((mine[0] if mine else len(texts)) - 1)
    return texts, places


def _find(needle: list[str], hay: list[str], near: int) -> int | None:
    """0-based start of ``needle`` in ``hay`` nearest to ``near`` (0-based), or None."""
    if not needle or len(needle) > len(hay):
        return None
    first = needle[0]
    best: int | None = None
    for pos, line in enumerate(hay):
        if (line == first and hay[pos : pos + len(needle)] == needle
                and (best is None or abs(pos - near) < abs(best - near))):
            best = pos
    return best


def _significant(text: str) -> bool:
    """A line that can anchor an alignment: not blank, not only brackets and quotes."""
    return len(text.strip().strip("()[]{}:,'\"")) >= 4


def _align(texts: list[str], hay: list[str]) -> dict[int, int]:
    """Hunk-side line index -> 0-based file line, or {} when the side is not recognisable.

    Every anchoring line of the side votes for the offsets (file line - side index) where
    its text occurs, weighted by how rare the text is in the file; the best-supported offset
    picks a window of the file, and difflib aligns the side with that window only.
    """
    where: dict[str, list[int]] = {}
    for pos, line in enumerate(hay):
        where.setdefault(line, []).append(pos)
    votes: list[tuple[int, float]] = []
    for a, text in enumerate(texts):
        found = where.get(text, [])
        if _significant(text) and 0 < len(found) <= 50:
            votes.extend((b - a, 1.0 / len(found)) for b in found)
    if not votes:
        return {}
    votes.sort()
    width = len(texts) + 20
    best_score, best_centre, lo = -1.0, 0, 0
    total = 0.0
    for hi in range(len(votes)):  # sliding window over the sorted offsets
        total += votes[hi][1]
        while votes[hi][0] - votes[lo][0] > width:
            total -= votes[lo][1]
            lo += 1
        if total > best_score:
            best_score, best_centre = total, votes[(lo + hi) // 2][0]
    first = max(0, best_centre - 20)
    window = hay[first : best_centre + len(texts) + 20]
    matcher = difflib.SequenceMatcher(None, texts, window, autojunk=False)
    return {
        a + k: first + b + k
        for a, b, size in matcher.get_matching_blocks()
        for k in range(size)
    }


def _project(index: int, mapping: dict[int, int], size: int) -> int:
    """The file line (1-based) of a hunk-side index, interpolated from the nearest mapped line."""
    if index in mapping:
        return mapping[index] + 1
    before = [a for a in mapping if a < index]
    if before:
        a = max(before)
        line = mapping[a] + (index - a) + 1
    else:
        a = min(mapping)
        line = mapping[a] - (a - index) + 1
    return min(max(line, 1), max(size, 1))


@dataclass
class LocatedEdits:
    lines: list[int]  # edited line numbers in the sdist's copy of the file
    how: str  # "old" / "new" (found exactly), "fuzzy-old" / "fuzzy-new" (aligned), "header"
    shifted: bool  # found somewhere other than the header's position


def locate_edits(hunk: Hunk, file_lines: list[str]) -> LocatedEdits:
    """The hunk's edited lines as numbered in ``file_lines`` (the sdist's copy, see module doc).

    Tried in order: the old side exactly (nearest the header, as ``patch`` does), the new side
    exactly (the fix is released in the sdist), then the side that a difflib alignment matches
    best (at least two anchoring lines and a third of the side's anchoring lines), else the
    header's numbers.
    """
    hay = [_norm(t) for t in file_lines]
    sides = {name: _side(hunk, name) for name in ("old", "new")}
    starts = {"old": hunk.old_start, "new": hunk.new_start}
    for name in ("old", "new"):
        texts, places = sides[name]
        pos = _find(texts, hay, starts[name] - 1)
        if pos is not None:
            lines = sorted({min(max(pos + p + 1, 1), len(hay)) for p in places})
            return LocatedEdits(lines, name, pos + 1 != hunk.old_start)
    best: tuple[int, str, dict[int, int]] | None = None
    for name in ("old", "new"):
        texts, _ = sides[name]
        mapping = _align(texts, hay)
        anchors = sum(1 for a in mapping if _significant(texts[a]))
        wanted = sum(1 for t in texts if _significant(t))
        if anchors >= 2 and anchors * 3 >= wanted and (best is None or anchors > best[0]):
            best = (anchors, name, mapping)
    if best is not None:
        _, name, mapping = best
        places = sides[name][1]
        lines = sorted({_project(p, mapping, len(hay)) for p in places})
        return LocatedEdits(lines, f"fuzzy-{name}", True)
    return LocatedEdits(edited_lines(hunk), "header", False)


LOCATED_HOW = ("old", "new", "fuzzy-old", "fuzzy-new", "header")


@dataclass
class GoldEdits:
    """The edited lines of one task's gold files, located in the sdist."""

    lines: dict[str, list[int]]  # gold path -> sorted distinct edited lines (sdist numbering)
    missing: list[str]  # gold files absent from the sdist
    new_files: list[str]  # gold files the patch creates (no edited lines)
    hunks_by_how: dict[str, int]  # how each hunk was located (LOCATED_HOW)
    hunks_shifted: int  # hunks located away from their header's line number
    removed_total: int  # '-' lines of the patch in gold files present in the sdist
    removed_match_header: int  # of those, equal to the sdist's line at the header's number

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.lines.values())


def _not_blank(line: int, file_lines: list[str]) -> int:
    """``line``, or when it is blank the nearest non-blank line above it (below it at the top).

    A pack leaves blank lines out of its verbatim ranges, and a blank line says nothing
    about where the edit is, so an edit placed on one is moved to its neighbour."""
    n = min(max(line, 1), max(len(file_lines), 1))
    if not file_lines or file_lines[n - 1].strip():
        return n
    for m in range(n - 1, 0, -1):
        if file_lines[m - 1].strip():
            return m
    for m in range(n + 1, len(file_lines) + 1):
        if file_lines[m - 1].strip():
            return m
    return n


def gold_edits(task: Task, tree: Path, relocate: bool = True) -> GoldEdits:
    """Edited lines of every gold file of ``task`` in the sdist ``tree`` (see module doc)."""
    by_how = dict.fromkeys(LOCATED_HOW, 0)
    shifted = 0
    lines: dict[str, list[int]] = {}
    missing: list[str] = []
    new_files: list[str] = []
    total = match_header = 0
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
            located = locate_edits(hunk, file_lines) if relocate else LocatedEdits(edited_lines(hunk), "header", False)
            by_how[located.how] += 1
            shifted += located.shifted
            found.update(_not_blank(n, file_lines) for n in located.lines)
            removed = removed_lines(hunk)
            total += len(removed)
            match_header += sum(
                1 for n, t in removed if 0 < n <= len(file_lines) and _norm(file_lines[n - 1]) == _norm(t)
            )
        lines[gold] = sorted(found)
    return GoldEdits(lines, missing, new_files, by_how, shifted, total, match_header)
