"""Indexing speed: exocortex against `rg -c ''` and repomix, side by side on the same trees.

Corpus: real code anyone can get, the PyPI source distributions of SymPy, Django,
scikit-learn and matplotlib.  Trees (built once under ``benchmarks/.cache/trees``):

* ``sympy``: the SymPy sdist alone.
* ``tree50k``: plain copies of the four sdists in ``copy000/``, ``copy001/``, ... until the
  tree holds ``--files`` files (the last copy is cut short).  Every copy after the first
  repeats the same contents, which a content-hash cache may turn into cheap cache hits.
* ``tree50k-unique``: the same layout, but every text file whose type has a line-comment
  syntax we know gets one comment line appended that names its copy, so its content is
  unique in the tree.  Binary files and text types without a safe comment stay identical
  copies (the tree summary says how many).  This is the honest headline for MB/s.

Each tree is its own git repository with every file committed, as a checkout an agent
would index.  This also keeps the repository that holds ``benchmarks/.cache`` (where the
cache is git-ignored) from hiding the files from git-aware tools.

Per tree, in one run: ``rg -c ''`` (the cost of reading the bytes), ``repomix`` packing the
tree (defaults: XML output, o200k token counting and secret scanning on), and exocortex
cold index, no-op re-index and one-file-changed re-index, each a separate process.  See
``benchmarks/README.md`` for set-up and usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MB,
    REPO_ROOT,
    Measurement,
    Target,
    extract_sdist,
    fetch_sdist,
    find_tool,
    git_commit,
    log,
    machine_description,
    markdown_table,
    median,
    replace_docs_section,
    run_measured,
    sdist_files,
    tool_version,
    tree_size,
    utc_now,
    warm_page_cache,
)

SECTION = "index_speed"
FULL_FILES = 50_000
DEFAULT_CACHE = Path(__file__).resolve().parent / ".cache"
# copies are filled in this order, so a small --files smoke tree still holds SymPy code
SDISTS: list[tuple[str, str]] = [
    ("sympy", "1.13.3"),
    ("django", "5.1.4"),
    ("scikit-learn", "1.5.2"),
    ("matplotlib", "3.9.2"),
]
TREE_NAMES = ("sympy", "tree50k", "tree50k-unique")
RECIPE_VERSION = 3
REPOMIX_FLAGS: list[str] = []  # defaults on purpose: token counting and secret scan are its cost
RG_FLAGS = ["-c", ""]
CHANGED_FILE_PREFERRED = "sympy/core/basic.py"

# Targets (2 cores).
# Issue 15's targets.
SYMPY_FIRST_ANSWER_RATIO_MAX = 0.5  # time until a search answers during a cold index / repomix
SYMPY_RATIO_MAX = 1.0  # full cold index / repomix
COLD_MBPS_MIN = 15.0
SEARCHABLE_MBPS_MIN = 30.0  # tree bytes / time until a search answers during the cold index
COLD_RSS_MAX_MB = 1000.0  # 1 GB, decimal
NOOP_MAX_S = 0.5
CHANGED_MAX_S = 1.5
FIRST_ANSWER_QUERY = "parse the configuration file"

# One appended comment line per type: (prefix, suffix).  Only types whose syntax makes a
# trailing comment line harmless are touched.  Anything else stays byte-identical.
_HASH = ("# ", "")
_SLASH = ("// ", "")
_BLOCK = ("/* ", " */")
_MARKUP = ("<!-- ", " -->")
_COMMENT_STYLES: list[tuple[tuple[str, str], str]] = [
    (_HASH, ".py .pyi .pyx .pxd .pxi .tp .py-tpl .sh .bash .cfg .toml .yaml .yml .txt .in"),
    (_HASH, ".ini .conf .po .pot .build .cmake .mk .mplstyle .r .pl .rb"),
    (_SLASH, ".js .mjs .cjs .ts .tsx .jsx .go .rs .java .scss .less"),
    (_BLOCK, ".c .h .cpp .cc .cxx .hpp .hh .css"),
    (_MARKUP, ".html .htm .xml .xsl .svg .md"),
    (("\n.. ", ""), ".rst"),  # an RST comment needs a blank line before it
    (("% ", ""), ".tex .sty .eps"),
    (("-- ", ""), ".sql"),
    (("REM ", ""), ".bat"),
]
COMMENT_BY_SUFFIX: dict[str, tuple[str, str]] = {
    suffix: style for style, suffixes in _COMMENT_STYLES for suffix in suffixes.split()
}
COMMENT_BY_NAME: dict[str, tuple[str, str]] = {
    "Makefile": _HASH,
    "matplotlibrc": _HASH,
    "meson.build": _HASH,
    "CMakeLists.txt": _HASH,
    "MANIFEST.in": _HASH,
}


# --------------------------------------------------------------------------- corpus


def comment_for(rel: Path) -> tuple[str, str] | None:
    if rel.name in COMMENT_BY_NAME:
        return COMMENT_BY_NAME[rel.name]
    return COMMENT_BY_SUFFIX.get(rel.suffix.lower())


@dataclass
class TreeInfo:
    name: str  # sympy, tree50k, tree50k-unique
    path: Path
    files: int
    bytes: int
    distinct_contents: int
    distinct_bytes: int  # bytes of the first file with each distinct content
    uniquified_files: int = 0  # files that got a per-copy comment line
    changed_file: str = ""  # relative path of the file edited for the one-changed run
    description: str = ""


def _git(tree: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "index_speed",
        "GIT_AUTHOR_EMAIL": "index_speed@localhost",
        "GIT_COMMITTER_NAME": "index_speed",
        "GIT_COMMITTER_EMAIL": "index_speed@localhost",
    }
    subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "commit.gpgsign=false", "-c", "gc.auto=0",
         "-c", "core.compression=1",
         "-C", str(tree), *args],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )


def _commit_tree(tree: Path) -> None:
    _git(tree, "init", "-q")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "--no-verify", "-m", "benchmark tree")


def _pick_changed_file(files: list[str]) -> str:
    preferred = [f for f in files if f.endswith(CHANGED_FILE_PREFERRED)]
    if preferred:
        return preferred[0]
    python = [f for f in files if f.endswith(".py")]
    if not python:
        raise SystemExit("the tree has no .py file to change")
    return python[len(python) // 2]


def build_tree(
    name: str, trees_dir: Path, sources: list[Path], files_target: int
) -> TreeInfo:
    """Build (or reuse) the tree ``name``; see the module docstring for the recipes."""
    unique = name == "tree50k-unique"
    recipe: dict[str, Any]
    if name == "sympy":
        dirname, recipe = "sympy", {"sdists": [sources[0].name]}
    else:
        dirname = f"copies-{files_target}" + ("-unique" if unique else "")
        recipe = {"sdists": [s.name for s in sources], "files": files_target, "unique": unique}
    recipe["version"] = RECIPE_VERSION
    path = trees_dir / dirname
    recipe_path = trees_dir / f"{dirname}.recipe.json"
    if path.is_dir() and recipe_path.exists():
        saved = json.loads(recipe_path.read_text())
        if saved.get("recipe") == recipe:
            return TreeInfo(path=path, **saved["info"])
    if path.exists():
        shutil.rmtree(path)
    trees_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dirname}-", dir=trees_dir))
    log(f"building tree {name} in {path} ...")
    started = time.perf_counter()
    digests: set[bytes] = set()
    written: list[str] = []
    uniquified = 0
    total = 0
    distinct_bytes = 0

    def put(src: Path, rel: str, copy_no: int | None) -> None:
        nonlocal uniquified, total, distinct_bytes
        data = src.read_bytes()
        style = comment_for(Path(rel)) if (unique and copy_no is not None) else None
        if style is not None and b"\0" not in data:
            prefix, suffix = style
            sep = b"" if data.endswith(b"\n") or not data else b"\n"
            line = f"{prefix}exocortex-bench copy {copy_no:03d}{suffix}\n".encode()
            data = data + sep + line
            uniquified += 1
        out = tmp / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if digest not in digests:
            digests.add(digest)
            distinct_bytes += len(data)
        written.append(rel)
        total += len(data)

    if name == "sympy":
        for rel in sdist_files(sources[0]):
            put(sources[0] / rel, rel.as_posix(), None)
        description = f"the {sources[0].name} sdist, unmodified"
    else:
        listing = [(src, sdist_files(src)) for src in sources]
        per_copy = sum(len(files) for _, files in listing)
        copy_no = 0
        while len(written) < files_target:
            for src, files in listing:
                for rel in files:
                    if len(written) >= files_target:
                        break
                    put(src / rel, f"copy{copy_no:03d}/{src.name}/{rel.as_posix()}", copy_no)
            copy_no += 1
        description = (
            f"{copy_no} cop{'y' if copy_no == 1 else 'ies'} (copy000..copy{copy_no - 1:03d}, "
            "the last cut short) of the "
            f"{len(sources)} sdists ({per_copy:,} files per full copy)"
        )
        if unique:
            description += (
                f"; {uniquified:,} text files of known types end with a comment line naming "
                f"their copy, the other {len(written) - uniquified:,} (binary, or no known "
                "comment syntax) repeat across copies"
            )
    _commit_tree(tmp)
    os.replace(tmp, path)
    info: dict[str, Any] = {
        "name": name,
        "files": len(written),
        "bytes": total,
        "distinct_contents": len(digests),
        "distinct_bytes": distinct_bytes,
        "uniquified_files": uniquified,
        "changed_file": _pick_changed_file(written),
        "description": description,
    }
    recipe_path.write_text(json.dumps({"recipe": recipe, "info": info}, indent=2))
    log(f"built {name}: {len(written):,} files, {total / MB:,.1f} MB "
        f"in {time.perf_counter() - started:.1f} s")
    return TreeInfo(path=path, **info)


# --------------------------------------------------------------------------- tools


@dataclass
class Tools:
    rg: str | None
    repomix: str | None
    exocortex: str | None
    versions: dict[str, str] = field(default_factory=dict)


def find_tools(cache: Path, need_rg: bool, need_repomix: bool, need_exocortex: bool) -> Tools:
    tools = Tools(
        rg=find_tool("rg") if need_rg else None,
        repomix=find_tool("repomix", cache / "node_modules" / ".bin" / "repomix")
        if need_repomix else None,
        exocortex=find_tool("exocortex") if need_exocortex else None,
    )
    missing = []
    if need_rg and not tools.rg:
        missing.append(
            "ripgrep (`rg`): apt-get update && apt-get install -y ripgrep "
            "(or `cargo install ripgrep`)"
        )
    if need_repomix and not tools.repomix:
        missing.append(
            "repomix: npm install --prefix benchmarks/.cache repomix "
            "(or npm install -g repomix), or pass --skip-repomix"
        )
    if need_exocortex and not tools.exocortex:
        missing.append(
            f"exocortex: pip install -e . into the environment of {sys.executable}, "
            "or pass --skip-exocortex"
        )
    if missing:
        raise SystemExit("missing tools:\n  " + "\n  ".join(missing))
    if tools.rg:
        tools.versions["rg"] = tool_version([tools.rg, "--version"])
    if tools.repomix:
        tools.versions["repomix"] = tool_version([tools.repomix, "--version"])
    if tools.exocortex:
        tools.versions["exocortex"] = tool_version([tools.exocortex, "--version"])
    tools.versions["node"] = tool_version(["node", "--version"]) if tools.repomix else ""
    tools.versions = {k: v for k, v in tools.versions.items() if v}
    return tools


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    tree: str
    tool: str
    step: str  # "read", "pack", "cold", "no-op", "one changed"
    runs: list[Measurement] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)  # exocortex --json output
    notes: list[str] = field(default_factory=list)
    seen_files: str = "—"  # files the tool itself says it handled

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(m.ok for m in self.runs)

    @property
    def wall(self) -> float:
        return median([m.wall_s for m in self.runs])

    @property
    def cpu(self) -> float:
        return median([m.cpu_s for m in self.runs])

    @property
    def peak_rss_mb(self) -> float:
        return median([m.peak_rss_bytes for m in self.runs]) / MB

    @property
    def reads_everything(self) -> bool:
        return self.step in {"read", "pack", "cold", "first answer"}

    def failure(self) -> str:
        bad = next(m for m in self.runs if not m.ok)
        if bad.timed_out:
            return f"timed out after {bad.wall_s:.0f} s"
        tail = (bad.stderr.strip().splitlines() or ["(no stderr)"])[-1][:160]
        return f"exit {bad.returncode}: {tail}"


def _parse_json_report(stdout: str) -> dict[str, Any] | None:
    text = stdout.strip()
    try:
        value = json.loads(text)
        return value if isinstance(value, dict) else None
    except json.JSONDecodeError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _repomix_total_files(stdout: str) -> str:
    match = re.search(r"Total Files:\s*([\d,]+)", _ANSI.sub("", stdout))
    return match.group(1) if match else "—"


def measure_rg(tree: TreeInfo, rg: str, row: Row, tmp: Path, timeout: float) -> None:
    m = run_measured([rg, *RG_FLAGS, str(tree.path)], cwd=tmp, timeout_s=timeout)
    # rg exits 1 when nothing matched; an empty tree is not our case, so only 0 is success
    row.runs.append(m)
    if m.ok:
        row.seen_files = f"{len(m.stdout.splitlines()):,}"


def measure_repomix(tree: TreeInfo, repomix: str, row: Row, tmp: Path, timeout: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="repomix-", dir=tmp))
    out = work / "repomix-output.xml"
    try:
        # cwd is an empty folder so no repomix.config.json is picked up
        m = run_measured(
            [repomix, str(tree.path), *REPOMIX_FLAGS, "--output", str(out)],
            cwd=work, timeout_s=timeout,
        )
        row.runs.append(m)
        if m.ok:
            row.seen_files = _repomix_total_files(m.stdout)
            if out.exists():
                row.notes.append(f"output {out.stat().st_size / MB:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure_first_answer(tree: TreeInfo, exe: str, row: Row, store: Path, timeout: float) -> None:
    """Time from the start of a cold ``exocortex index`` until a search answers: the search is run
    as soon as the index's first commit (a checkpoint) exists. The index run is then left to finish
    and is not timed (the cold row times a cold index alone)."""
    if store.exists():
        shutil.rmtree(store)
    started = time.perf_counter()
    index = subprocess.Popen([exe, "index", str(tree.path), "--store", str(store), "--json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not (store / "meta.json").is_file():
            if index.poll() is not None or time.perf_counter() - started > timeout:
                row.notes.append(f"no commit appeared (index exit {index.returncode})")
                return
            time.sleep(0.01)
        search = run_measured(
            [exe, "search", FIRST_ANSWER_QUERY, "-C", str(tree.path), "--store", str(store), "--json", "-k", "10"],
            timeout_s=timeout, env={**os.environ, "EXOCORTEX_ANSWER_CACHE_MAX_BYTES": "0"},
        )
        total = time.perf_counter() - started
        row.runs.append(dataclasses.replace(search, wall_s=total))
        report = _parse_json_report(search.stdout) if search.ok else None
        fresh = (report or {}).get("index") or {}
        building = fresh.get("building")
        if building:
            row.notes.append(f"answered from a checkpoint of {building['files_done']:,} of "
                             f"{building['files_planned']:,} files")
        elif report is not None:
            row.notes.append("answered from the complete index")
        row.notes.append(f"the search itself {search.wall_s:.2f} s; CPU and RSS are the search's")
    finally:
        index.wait(timeout=timeout)
        shutil.rmtree(store, ignore_errors=True)


def measure_exocortex(
    tree: TreeInfo, exe: str, rows: dict[str, Row], store: Path, timeout: float
) -> None:
    """Time to a first answer during a cold index; then a cold index, no-op re-index and
    one-file-changed re-index, one process each."""
    measure_first_answer(tree, exe, rows["first answer"], store, timeout)
    argv = [exe, "index", str(tree.path), "--store", str(store), "--json"]
    if store.exists():
        shutil.rmtree(store)
    changed = tree.path / tree.changed_file
    original = changed.read_bytes()
    try:
        for step in ("cold", "no-op", "one changed"):
            if step == "no-op":
                warm_page_cache(tree.path)  # repomix's and the cold runs' reads may have evicted the tree
            if step == "one changed":
                with open(changed, "ab") as fh:
                    fh.write(f"# edited by index_speed.py at {time.time():.6f}\n".encode())
            m = run_measured(argv, timeout_s=timeout)
            row = rows[step]
            row.runs.append(m)
            if not m.ok:
                break  # later steps need the index this one should have made
            report = _parse_json_report(m.stdout)
            if report is None:
                row.notes.append("no JSON report on stdout")
                continue
            row.reports.append(report)
    finally:
        changed.write_bytes(original)
        shutil.rmtree(store, ignore_errors=True)


def describe_exocortex(tree: TreeInfo, rows: dict[str, Row]) -> None:
    """Turn the last JSON report of each step into the 'saw' column and sanity notes."""
    for step, row in rows.items():
        if not row.reports or step == "first answer":
            continue
        rep = row.reports[-1]
        files, processed = rep.get("files"), rep.get("processed")
        row.seen_files = f"{files:,}" if isinstance(files, int) else "—"
        if isinstance(rep.get("seconds"), (int, float)):
            row.notes.append(f"self-timed {rep['seconds']:.2f} s")
        if step == "cold":
            if isinstance(rep.get("bytes"), int):
                row.notes.append(f"indexed {rep['bytes'] / MB:,.1f} MB")
            for key in ("chunks", "tokens"):
                if isinstance(rep.get(key), int):
                    row.notes.append(f"{rep[key]:,} {key}")
            skipped = rep.get("skipped") or {}
            if skipped:
                row.notes.append(
                    "skipped " + ", ".join(f"{k}: {v:,}" for k, v in sorted(skipped.items()))
                )
        expected = {"no-op": 0, "one changed": 1}.get(step)
        if expected is not None and processed != expected:
            row.notes.append(f"WARNING: re-parsed {processed} files, expected {expected}")
        elif step != "cold":
            row.notes.append(f"re-parsed {processed} file" + ("" if processed == 1 else "s"))


# --------------------------------------------------------------------------- reporting


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def result_rows(trees: dict[str, TreeInfo], rows: list[Row]) -> list[list[str]]:
    table = []
    for row in rows:
        tree = trees[row.tree]
        label = f"{row.tool} {row.step}"
        if not row.runs:
            continue
        if not row.ok:
            table.append([row.tree, label, "—", "—", "—", "—", "—", "—",
                          "FAILED: " + row.failure()])
            continue
        rate_files = _fmt_rate(tree.files / row.wall) if row.reads_everything else "—"
        rate_mb = _fmt_rate(tree.bytes / MB / row.wall) if row.reads_everything else "—"
        table.append([
            row.tree, label, f"{row.wall:.2f}", rate_files, rate_mb,
            f"{row.peak_rss_mb:,.0f}", f"{row.cpu:.1f}", row.seen_files,
            "; ".join(row.notes),
        ])
    return table


def _find(rows: list[Row], tree: str, tool: str, step: str) -> Row | None:
    for row in rows:
        if (row.tree, row.tool, row.step) == (tree, tool, step) and row.runs:
            return row
    return None


def _judged(
    name: str, limit: str, row: Row | None, shown: str, ok: bool, smoke: bool
) -> Target:
    if row is None:
        return Target(name, limit, "—", None)
    if not row.ok:
        return Target(name, limit, "failed: " + row.failure(), False)
    if smoke:
        return Target(name, limit, shown, None, note="smoke run: the target is for 50,000 files")
    return Target(name, limit, shown, ok)


def evaluate_targets(trees: dict[str, TreeInfo], rows: list[Row], smoke: bool) -> list[Target]:
    targets: list[Target] = []
    rep = _find(rows, "sympy", "repomix", "pack")
    for step, name, most in (
        ("first answer", "SymPy: time until a search answers, cold / repomix pack wall", SYMPY_FIRST_ANSWER_RATIO_MAX),
        ("cold", "SymPy: cold index wall / repomix pack wall", SYMPY_RATIO_MAX),
    ):
        exo = _find(rows, "sympy", "exocortex", step)
        limit = f"≤ {most}"
        if exo and rep and exo.ok and rep.ok:
            ratio = exo.wall / rep.wall
            shown = f"{ratio:.2f} ({exo.wall:.2f} s / {rep.wall:.2f} s)"
            targets.append(Target(name, limit, shown, ratio <= most))
        elif exo and not exo.ok:
            targets.append(Target(name, limit, "exocortex failed: " + exo.failure(), False))
        elif exo and rep and not rep.ok:
            targets.append(Target(name, limit, "repomix failed: " + rep.failure(), None))
        else:
            targets.append(Target(name, limit, "—", None))

    for tree_name in ("tree50k-unique", "tree50k"):
        if tree_name not in trees:
            continue
        tree = trees[tree_name]
        label = f"{tree_name} ({tree.files:,} files)" if smoke else tree_name
        cold = _find(rows, tree_name, "exocortex", "cold")
        first = _find(rows, tree_name, "exocortex", "first answer")
        noop = _find(rows, tree_name, "exocortex", "no-op")
        changed = _find(rows, tree_name, "exocortex", "one changed")
        mbps = tree.bytes / MB / cold.wall if cold and cold.ok else 0.0
        searchable = tree.bytes / MB / first.wall if first and first.ok else 0.0
        rss = cold.peak_rss_mb if cold and cold.ok else 0.0
        noop_s = noop.wall if noop and noop.ok else 0.0
        changed_s = changed.wall if changed and changed.ok else 0.0
        targets += [
            _judged(f"{label}: cold index throughput", f"≥ {COLD_MBPS_MIN:g} MB/s", cold,
                    f"{mbps:,.1f} MB/s", mbps >= COLD_MBPS_MIN, smoke),
            _judged(f"{label}: searchable (a search answers during the cold index)",
                    f"≥ {SEARCHABLE_MBPS_MIN:g} MB/s", first, f"{searchable:,.1f} MB/s",
                    searchable >= SEARCHABLE_MBPS_MIN, smoke),
            _judged(f"{label}: cold index peak RSS (process tree)",
                    f"≤ {COLD_RSS_MAX_MB:,.0f} MB", cold, f"{rss:,.0f} MB",
                    rss <= COLD_RSS_MAX_MB, smoke),
            _judged(f"{label}: no-op re-index", f"≤ {NOOP_MAX_S:g} s", noop,
                    f"{noop_s:.2f} s", noop_s <= NOOP_MAX_S, smoke),
            _judged(f"{label}: one changed file", f"≤ {CHANGED_MAX_S:g} s", changed,
                    f"{changed_s:.2f} s", changed_s <= CHANGED_MAX_S, smoke),
        ]
    return targets


def stage_table(rows: list[Row]) -> str:
    """exocortex's own stage timings for each cold index, from its JSON report."""
    lines = []
    for row in rows:
        if row.tool != "exocortex" or row.step != "cold" or not row.reports:
            continue
        timings = row.reports[-1].get("timings") or {}
        if not isinstance(timings, dict) or not timings:
            continue
        parts = ", ".join(
            f"{k} {v:.2f} s" for k, v in sorted(timings.items(), key=lambda kv: -float(kv[1]))
            if isinstance(v, (int, float))
        )
        lines.append(f"- {row.tree}: {parts}")
    return "\n".join(lines)


def render(
    argv: list[str], trees: dict[str, TreeInfo], rows: list[Row], targets: list[Target],
    tools: Tools, repeat: int, files_target: int, smoke: bool, load: tuple[float, float],
) -> str:
    machine = machine_description()
    command = "python " + " ".join(shlex.quote(a) for a in argv)
    out = ["## Indexing speed (`benchmarks/index_speed.py`)", ""]
    if smoke:
        out += [f"**Smoke run with {files_target:,}-file copy trees: the 50k targets are not "
                "judged.**", ""]
    out += [
        f"- Command: `{command}`",
        f"- Date: {utc_now()}; commit: `{git_commit()}`",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM, "
        f"{machine['os']}, Python {machine['python']}",
        "- Tools: " + "; ".join(f"{k} `{v}`" for k, v in tools.versions.items()),
        f"- Runs per measurement: {repeat} (median shown); load average (1 min) "
        f"{load[0]:.2f} before the first timed command, {load[1]:.2f} after the last",
        "",
        "Trees (files and bytes exclude each tree's `.git`; MB = 10^6 bytes):",
        "",
    ]
    tree_rows = []
    for tree in trees.values():
        tree_rows.append([
            tree.name, f"{tree.files:,}", f"{tree.bytes / MB:,.1f}",
            f"{tree.distinct_contents:,}", f"{tree.distinct_bytes / MB:,.1f}", tree.description,
        ])
    out += [markdown_table(
        ["tree", "files", "MB", "distinct contents", "distinct MB", "made of"], tree_rows
    )]
    out += [
        "",
        "Files/s and MB/s divide the tree's files and bytes (the table above, the same for "
        "every tool) by the wall time; \"saw\" is the file count the tool itself reports "
        "(rg: files with at least one line; repomix: `Total Files`; exocortex: `files` in "
        "its JSON report).  Tools skip some files (binary, ignored), so a tool that reads "
        "fewer bytes than the tree holds gets credit for the whole tree.  Peak RSS is the "
        "largest sum of RSS over the process and all its descendants, polled every 20 ms "
        "(shared pages count once per process, so it can only over-state); CPU s is user + "
        "system time of the process and its descendants.  The page cache is warm: every "
        "file is read once before the first timed command.  Re-index rows show no rates: "
        "they are judged on wall time.",
        "",
        f"Flags: `rg {' '.join(shlex.quote(f) for f in RG_FLAGS)} TREE`; "
        f"`{' '.join(['repomix', 'TREE', *REPOMIX_FLAGS, '--output', 'TMPFILE'])}` from an empty folder "
        "(defaults: XML, o200k_base token counting, secret scanning, git sort by changes; "
        "no clipboard); `exocortex index TREE --store STORE --json` with the store removed "
        "before the cold run; \"first answer\": a cold `exocortex index` started alone, then, as soon as "
        f"its first commit (a checkpoint) exists, `exocortex search \"{FIRST_ANSWER_QUERY}\"`: the wall time "
        "runs from the index's start to the search's end (the index is then left to finish, untimed); "
        "the one-changed run appends a comment line to "
        + ", ".join(f"`{t.changed_file}` ({t.name})" for t in trees.values())
        + " and restores the file afterwards.",
        "",
        markdown_table(
            ["tree", "tool / step", "wall s", "files/s", "MB/s", "peak RSS MB", "CPU s",
             "saw files", "notes"],
            result_rows(trees, rows),
        ),
        "",
        "Targets (2 cores):",
        "",
        markdown_table(
            ["target", "limit", "measured", "verdict"],
            [[t.name, t.limit, t.measured + (f" ({t.note})" if t.note else ""), t.verdict]
             for t in targets],
        ),
    ]
    stages = stage_table(rows)
    if stages:
        out += ["", "exocortex stage timings of the cold runs (its own `timings`):", "", stages]
    misses = [t for t in targets if t.passed is False]
    if misses:
        out += ["", "Misses: " + "; ".join(f"{t.name}: {t.measured} (limit {t.limit})"
                                           for t in misses) + "."]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trees", default=",".join(TREE_NAMES),
                   help=f"comma-separated, from {', '.join(TREE_NAMES)} (default: all)")
    p.add_argument("--files", type=int, default=FULL_FILES,
                   help="files in the copy trees (default 50000; e.g. 2000 for a smoke run)")
    p.add_argument("--repeat", type=int, default=1, help="runs per measurement (median)")
    p.add_argument("--skip-repomix", action="store_true")
    p.add_argument("--skip-rg", action="store_true")
    p.add_argument("--skip-exocortex", action="store_true",
                   help="measure only the peers (to test the harness)")
    p.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    p.add_argument("--write-smoke", action="store_true",
                   help="write docs/benchmarks.md even when --files is not 50000")
    p.add_argument("--prepare-only", action="store_true",
                   help="download the sdists and build the trees, then stop")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help="downloads, trees and stores (default: benchmarks/.cache)")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds before one command is killed and reported as timed out")
    p.add_argument("--index-url", default=os.environ.get("PIP_INDEX_URL",
                                                         "https://pypi.org/simple"))
    args = p.parse_args(argv)
    names = [t.strip() for t in args.trees.split(",") if t.strip()]
    unknown = [t for t in names if t not in TREE_NAMES]
    if unknown or not names:
        p.error(f"unknown tree(s) {unknown}; choose from {', '.join(TREE_NAMES)}")
    args.tree_names = [t for t in TREE_NAMES if t in names]
    if args.files < 1 or args.repeat < 1:
        p.error("--files and --repeat must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    cache: Path = args.cache.resolve()
    if shutil.which("git") is None:
        raise SystemExit("git is needed to build the trees (apt-get install -y git)")
    tools = None
    if not args.prepare_only:
        tools = find_tools(cache, not args.skip_rg, not args.skip_repomix,
                           not args.skip_exocortex)

    needed = SDISTS[:1] if args.tree_names == ["sympy"] else SDISTS
    sources = [
        extract_sdist(fetch_sdist(n, v, cache / "sdists", args.index_url), cache / "src")
        for n, v in needed
    ]
    trees = {
        name: build_tree(name, cache / "trees", sources, args.files)
        for name in args.tree_names
    }
    for tree in trees.values():
        files, size = tree_size(tree.path)
        if (files, size) != (tree.files, tree.bytes):
            raise SystemExit(f"{tree.path} changed since it was built "
                             f"({files} files, {size} bytes); delete it to rebuild")
    if args.prepare_only:
        for tree in trees.values():
            print(f"{tree.name}: {tree.path} ({tree.files:,} files, {tree.bytes / MB:,.1f} MB)")
        return 0
    assert tools is not None

    tmp = cache / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    smoke = args.files != FULL_FILES and any(t != "sympy" for t in trees)
    load_before = os.getloadavg()[0]
    for tree in trees.values():
        log(f"{tree.name}: warming the page cache ({tree.files:,} files)")
        warm_page_cache(tree.path)
        rg_row = Row(tree.name, "rg", "read")
        rx_row = Row(tree.name, "repomix", "pack")
        exo_rows = {s: Row(tree.name, "exocortex", s) for s in ("first answer", "cold", "no-op", "one changed")}
        rows += [rg_row, rx_row, *exo_rows.values()]
        for i in range(args.repeat):
            suffix = f" (run {i + 1}/{args.repeat})" if args.repeat > 1 else ""
            if tools.rg:
                log(f"{tree.name}: rg{suffix}")
                measure_rg(tree, tools.rg, rg_row, tmp, args.timeout)
            if tools.repomix:
                log(f"{tree.name}: repomix{suffix}")
                measure_repomix(tree, tools.repomix, rx_row, tmp, args.timeout)
            if tools.exocortex:
                log(f"{tree.name}: exocortex first answer, cold, no-op, one changed{suffix}")
                measure_exocortex(tree, tools.exocortex, exo_rows,
                                  cache / "stores" / tree.path.name, args.timeout)
        describe_exocortex(tree, exo_rows)

    load_after = os.getloadavg()[0]
    targets = evaluate_targets(trees, rows, smoke)
    text = render(["benchmarks/index_speed.py", *raw], trees, rows, targets, tools,
                  args.repeat, args.files, smoke, (load_before, load_after))
    print(text)
    if args.no_write:
        log("--no-write: docs/benchmarks.md left alone")
    elif smoke and not args.write_smoke:
        log("smoke run (--files is not 50000): docs/benchmarks.md left alone "
            "(--write-smoke to force)")
    else:
        replace_docs_section(SECTION, text)
        log(f"wrote the {SECTION} section of {REPO_ROOT / 'docs' / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
