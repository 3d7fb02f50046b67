"""Shared helpers for the benchmarks in this folder.

Each benchmark measures commands as separate processes (wall time, CPU time and the peak
resident memory of the whole process tree), describes the machine and the commit that
produced a figure, and writes its table into its own section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_BENCHMARKS = REPO_ROOT / "docs" / "benchmarks.md"
BENCH_CACHE = REPO_ROOT / "benchmarks" / ".cache"
MB = 1_000_000  # figures use decimal megabytes: 1 MB = 10**6 bytes

DOCS_HEADER = """# Benchmarks

Every figure on this page names the command, the machine and the commit that produced it.
Peers are measured side by side in the same run; a missed target is reported as a miss.
Each benchmark script in `benchmarks/` rewrites only its own section (between its markers).
"""


def log(message: str) -> None:
    """Progress for people, on stderr (stdout carries the results)."""
    print(f"[{Path(sys.argv[0]).stem}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- corpus
# Real code anyone can get: source distributions from PyPI, downloaded once into a cache.


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _cached_sdist(dest: Path, name: str, version: str) -> Path | None:
    for candidate in sorted(dest.glob("*.tar.gz")):
        stem = candidate.name[: -len(".tar.gz")]
        dist, _, ver = stem.rpartition("-")
        if _normalise(dist) == _normalise(name) and ver == version:
            return candidate
    return None


def fetch_sdist(name: str, version: str, dest: Path, index_url: str) -> Path:
    """The sdist of ``name==version`` in ``dest``, downloading it if needed.

    Downloads through the package index's JSON simple API (PEP 691), the interface pip
    itself uses, and checks the sha256 the index publishes.  ``pip download --no-binary``
    would also work for SymPy and Django, but it builds package metadata first, which for
    matplotlib fetches third-party sources from outside PyPI and fails without that network.
    """
    dest.mkdir(parents=True, exist_ok=True)
    found = _cached_sdist(dest, name, version)
    if found:
        return found
    url = f"{index_url.rstrip('/')}/{_normalise(name)}/"
    log(f"downloading the {name}=={version} sdist (index: {index_url})")
    request = urllib.request.Request(
        url, headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=120) as resp:
        listing = json.load(resp)
    wanted = None
    for entry in listing.get("files", []):
        filename = entry["filename"]
        if not filename.endswith(".tar.gz"):
            continue
        dist, _, ver = filename[: -len(".tar.gz")].rpartition("-")
        if _normalise(dist) == _normalise(name) and ver == version:
            wanted = entry
            break
    if wanted is None:
        raise SystemExit(
            f"no sdist for {name}=={version} on {index_url}; put it in {dest} by hand, e.g.\n"
            f"  pip download --no-deps --no-binary {name} {name}=={version} -d {dest}"
        )
    file_url = urllib.parse.urljoin(url, wanted["url"])
    with urllib.request.urlopen(file_url, timeout=600) as resp:
        data = resp.read()
    expected = wanted.get("hashes", {}).get("sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise SystemExit(f"sha256 mismatch for {wanted['filename']}; not using it")
    target = dest / str(wanted["filename"])
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def extract_sdist(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` into ``dest`` once; returns the sdist's top directory.

    The top directory's name is remembered beside it (``<archive>.top``), so that a later
    call does not decompress the archive again to learn it.
    """
    marker = dest / f"{archive.name}.top"
    if marker.is_file():
        out = dest / marker.read_text(encoding="utf-8").strip()
        if out.is_dir():
            return out
    with tarfile.open(archive) as tar:
        top = {m.name.split("/", 1)[0] for m in tar.getmembers()}
        if len(top) != 1:
            raise SystemExit(f"{archive.name}: expected one top directory, found {sorted(top)}")
        (top_name,) = top
        out = dest / top_name
        if out.is_dir():
            marker.write_text(top_name + "\n", encoding="utf-8")
            return out
        log(f"extracting {archive.name}")
        dest.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
        # the "data" filter drops owners and unsafe paths: files end up owned by us
        tar.extractall(tmp, filter="data")
    os.replace(tmp / top_name, out)
    shutil.rmtree(tmp)
    marker.write_text(top_name + "\n", encoding="utf-8")
    return out


def sdist_files(root: Path) -> list[Path]:
    """Regular files under ``root`` (relative, sorted), not following links."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        base = Path(dirpath)
        for name in filenames:
            path = base / name
            if path.is_file() and not path.is_symlink():
                files.append(path.relative_to(root))
    return sorted(files, key=lambda p: p.as_posix())



def tree_size(tree: Path) -> tuple[int, int]:
    """Files and bytes under ``tree``, not counting its .git directory."""
    files = total = 0
    stack = [tree]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != ".git":
                        stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    files += 1
                    total += entry.stat(follow_symlinks=False).st_size
    return files, total


def warm_page_cache(tree: Path) -> None:
    """Read every file once so that every tool starts from the same warm page cache."""
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            try:
                with open(os.path.join(dirpath, name), "rb") as fh:
                    while fh.read(1 << 20):
                        pass
            except OSError:
                continue


# --------------------------------------------------------------------------- measuring


@dataclass
class Measurement:
    """One command run as a separate process."""

    argv: list[str]
    wall_s: float
    cpu_s: float  # user + system of the process and every descendant it waited for
    peak_rss_bytes: int  # largest sum of RSS over the process tree seen by the sampler
    peak_single_rss_bytes: int  # largest RSS of one process in the tree
    max_processes: int  # largest number of processes seen alive in the tree at once
    returncode: int
    timed_out: bool
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class _ProcessTreeSampler:
    """Polls the RSS of a process and all its descendants, keeping the peak sum.

    GNU time's maxrss is per process; exocortex indexes with worker processes, so the
    figure that matters is the sum over the tree at the same instant.  On Linux this reads
    /proc directly (a ppid map kept across polls, one ``statm`` read per live descendant),
    which costs far less CPU per poll than rebuilding psutil's ppid map each time; this
    matters on a 2-core machine where the sampler shares the cores with the measured tool.
    Summed RSS counts pages shared between processes (libraries, copy-on-write memory of
    forked workers) once per process, so it can only over-state the true footprint.
    """

    def __init__(self, pid: int, interval_s: float) -> None:
        self.root = pid
        self.interval_s = interval_s
        self.peak_sum = 0
        self.peak_single = 0
        self.max_processes = 0
        self._descendants: set[int] = {pid}
        self._others: set[int] = set()
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._use_proc = sys.platform.startswith("linux") and Path("/proc/self/statm").exists()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a process vanished mid-read: next tick
                self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        sizes = self._sample_proc() if self._use_proc else self._sample_psutil()
        if sizes:
            self.peak_sum = max(self.peak_sum, sum(sizes))
            self.peak_single = max(self.peak_single, max(sizes))
            self.max_processes = max(self.max_processes, len(sizes))

    def _sample_proc(self) -> list[int]:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
        live = set(pids)
        new = sorted(p for p in pids if p not in self._descendants and p not in self._others)
        parents: dict[int, int] = {}
        for pid in new:
            try:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    stat = fh.read()
                # the command name may contain spaces or parentheses: ppid follows the last ')'
                parents[pid] = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                live.discard(pid)
        changed = True
        while changed:  # a child and its parent may both be new in this poll
            changed = False
            for pid, ppid in list(parents.items()):
                if ppid in self._descendants:
                    self._descendants.add(pid)
                    del parents[pid]
                    changed = True
        self._others.update(parents)
        self._descendants &= live
        self._others &= live
        sizes = []
        for pid in self._descendants:
            try:
                with open(f"/proc/{pid}/statm", "rb") as fh:
                    sizes.append(int(fh.read().split()[1]) * self._page)
            except (OSError, ValueError, IndexError):
                continue
        return sizes

    def _sample_psutil(self) -> list[int]:
        import psutil

        try:
            root = psutil.Process(self.root)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        sizes = []
        for proc in procs:
            try:
                sizes.append(proc.memory_info().rss)
            except psutil.Error:
                continue
        return sizes


def run_measured(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
    poll_interval_s: float = 0.02,
    capture_limit: int = 1 << 20,
) -> Measurement:
    """Run ``argv`` once and measure wall time, CPU time and peak process-tree RSS.

    stdout and stderr go to temporary files (a pipe could fill while we wait), and up to
    ``capture_limit`` bytes of each are returned.  The command runs in its own session so
    that a timeout kills the whole tree.
    """
    argv = [str(a) for a in argv]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True,
        )
        sampler = _ProcessTreeSampler(proc.pid, poll_interval_s)
        sampler.start()
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout_s, _kill) if timeout_s else None
        if timer:
            timer.start()
        try:
            # wait4 returns the child's own rusage plus that of the descendants it reaped
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            wall = time.perf_counter() - start
            if timer:
                timer.cancel()
            sampler.stop()
        returncode = os.waitstatus_to_exitcode(status)
        proc.returncode = returncode  # reaped here; keep Popen consistent
        if not timed_out.is_set():
            # stray grandchildren left behind would distort the next measurement
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        out.seek(0)
        err.seek(0)
        stdout = out.read(capture_limit).decode("utf-8", "replace")
        stderr = err.read(capture_limit).decode("utf-8", "replace")
    return Measurement(
        argv=argv,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_bytes=sampler.peak_sum,
        peak_single_rss_bytes=sampler.peak_single,
        max_processes=sampler.max_processes,
        returncode=returncode,
        timed_out=timed_out.is_set(),
        stdout=stdout,
        stderr=stderr,
    )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# --------------------------------------------------------------------------- describing


def find_tool(name: str, *extra_places: Path) -> str | None:
    """The path of an executable: next to this Python first, then PATH, then extras."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    for place in extra_places:
        if place.is_file() and os.access(place, os.X_OK):
            return str(place)
    return None


def tool_version(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc.__class__.__name__})"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0].strip() if text else f"unknown (exit {done.returncode})"


def machine_description() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(cores),
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def git_commit(repo: Path = REPO_ROOT) -> str:
    """Short commit of ``repo``, with ``+dirty`` when the work tree has changes."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60
        )

    try:
        head = git("rev-parse", "--short", "HEAD")
        commit = head.stdout.strip() if head.returncode == 0 else "no commit yet"
        dirty = git("status", "--porcelain").stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git unavailable)"
    return commit + ("+dirty" if dirty else "")


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- rendering


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [
        all(_looks_numeric(row[i]) for row in cells[1:]) and len(cells) > 1
        for i in range(len(header))
    ]

    def line(row: list[str]) -> str:
        parts = [
            row[i].rjust(widths[i]) if numeric[i] else row[i].ljust(widths[i])
            for i in range(len(row))
        ]
        return "| " + " | ".join(parts) + " |"

    sep = "| " + " | ".join(
        ("-" * (w - 1) + ":") if num else "-" * w for w, num in zip(widths, numeric, strict=True)
    ) + " |"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def _looks_numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace("x", "").strip()
    if stripped in {"", "—"}:
        return True
    try:
        float(stripped)
    except ValueError:
        return False
    return True


def replace_docs_section(name: str, body: str, path: Path = DOCS_BENCHMARKS) -> None:
    """Write ``body`` between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``path``.

    Creates the file (with a short header) if missing, appends the section if the markers
    are absent, and leaves everything outside the markers untouched.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else DOCS_HEADER
    if start in text and end in text and text.index(start) < text.index(end):
        before = text[: text.index(start)]
        after = text[text.index(end) + len(end) :]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class Target:
    """A stated goal and the figure measured against it."""

    name: str
    limit: str
    measured: str
    passed: bool | None  # None: not measured in this run (or not applicable)
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "not measured"
        return "PASS" if self.passed else "MISS"


def built_tree_and_store(tree_name: str, store: str | None, prefix: str) -> tuple[Path, Path]:
    """A tree ``index_speed.py`` built, and the store to use for it (``store``, or
    ``.cache/stores/PREFIX-TREE``). Answers are computed from here on: a question repeated in a
    new process (this script's own, or a rerun on the same commit) would otherwise be read from
    the store's answers on disk (L3)."""
    os.environ["EXOCORTEX_ANSWER_CACHE_MAX_BYTES"] = "0"
    tree = BENCH_CACHE / "trees" / tree_name
    if not tree.is_dir():
        sys.exit(f"{tree} is missing: run `python benchmarks/index_speed.py --prepare-only` first")
    return tree, Path(store) if store else BENCH_CACHE / "stores" / f"{prefix}-{tree_name}"
