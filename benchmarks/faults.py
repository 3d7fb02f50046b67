"""Kill and interrupt index runs at random points; check that nothing is lost and nothing is left running.

For each mode (an incremental re-index after edits, and ``index --rebuild``) the script runs
``exocortex index`` as a separate process, sends it SIGKILL (``--kills`` trials) or SIGINT
(``--interrupts`` trials) after a random delay within the run's measured duration, and then
checks what a user would see:

- the store opens, and is at the commit before the run or at the run's own commit (a run that
  finished before the signal): its file count is the one of that tree, and a search answers;
- the run's worker processes are gone within a few seconds (0 orphans);
- an interrupted run exits 130 with one line on stderr;
- the next run takes the writer lock (no "another writer" refusal).

While the rebuild trials run, a reader thread searches the store through the Python API and
another runs ``exocortex search`` processes: every read must succeed.

    python benchmarks/faults.py                  # 10 kills + 5 interrupts per mode; writes docs/benchmarks.md
    python benchmarks/faults.py --files 1500 --kills 3 --interrupts 2 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_commit, log, machine_description, markdown_table, replace_docs_section, utc_now  # noqa: E402

ORPHAN_GRACE_S = 5.0


@dataclass
class Trial:
    mode: str
    signal: str
    delay_s: float
    exit_code: int
    stderr_lines: int
    outcome: str  # "previous", "new", or what went wrong
    orphans: int
    workers_seen: int
    exit_after_s: float  # from the signal to the process's end


@dataclass
class Reads:
    api: int = 0
    cli: int = 0
    errors: list[str] = field(default_factory=list)


def make_tree(root: Path, files: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(files):
        path = root / f"pkg{i % 20:02d}" / f"mod_{i:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "\n\n".join(
            f"def func_{i}_{j}(value):\n    \"\"\"Step {j} of module {i}.\"\"\"\n"
            f"    total = value * {rng.randint(1, 99)}\n    return total + {j}\n"
            for j in range(rng.randint(20, 60))
        )
        path.write_text(f'"""Module {i}."""\n\n{body}\n')


def edit_tree(root: Path, rng: random.Random, fraction: float) -> None:
    """Change, add and remove some files so an incremental run has work to do."""
    files = sorted(root.rglob("*.py"))
    for path in rng.sample(files, int(len(files) * fraction)):
        path.write_text(path.read_text() + f"\n\ndef edited_{rng.randrange(10**9)}():\n    return 1\n")
    for path in rng.sample(files, max(1, len(files) // 100)):
        path.unlink()
    for _ in range(max(1, len(files) // 100)):
        n = rng.randrange(10**9)
        (root / "added").mkdir(exist_ok=True)
        (root / "added" / f"new_{n}.py").write_text(f"def added_{n}():\n    return {n}\n")


def index_argv(root: Path, store: Path, rebuild: bool) -> list[str]:
    argv = [sys.executable, "-m", "exocortex.cli", "index", str(root), "--store", str(store), "--workers", "2"]
    return argv + (["--rebuild"] if rebuild else [])


def run_index(root: Path, store: Path, rebuild: bool) -> float:
    started = time.perf_counter()
    proc = subprocess.run(index_argv(root, store, rebuild), capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"index failed ({proc.returncode}): {proc.stderr.strip()}")
    return time.perf_counter() - started


def store_state(root: Path, store: Path) -> tuple[str, int]:
    """(commit id, files in the index), after checking that a search answers."""
    from exocortex import Index

    index = Index.open(root, store=store)
    files = index.status().files
    index.search("func value total", k=5)
    commit = json.loads((store / "meta.json").read_text())["commit_id"]
    return commit, files


def count_files(root: Path) -> int:
    return sum(1 for _ in root.rglob("*.py"))


def one_trial(root: Path, store: Path, mode: str, sig: signal.Signals, delay_s: float) -> Trial:
    before_commit, before_files = store_state(root, store)
    proc = subprocess.Popen(
        index_argv(root, store, rebuild=mode == "rebuild"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    seen: dict[int, psutil.Process] = {}
    deadline = time.perf_counter() + delay_s
    while time.perf_counter() < deadline and proc.poll() is None:
        try:
            for child in psutil.Process(proc.pid).children(recursive=True):
                seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    signalled = time.perf_counter()
    if proc.poll() is None:
        if sig == signal.SIGINT:  # Ctrl-C on a terminal reaches the whole process group
            os.killpg(proc.pid, sig)
        else:  # kill -9 of the main process only, as a crash or an OOM kill does
            proc.send_signal(sig)
    try:
        _, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        stderr = "HANG after the signal\n" + stderr
    exit_after_s = time.perf_counter() - signalled
    _, alive = psutil.wait_procs(list(seen.values()), timeout=ORPHAN_GRACE_S)
    for orphan in alive:  # do not let one trial's leftovers distort the next
        orphan.kill()
    try:
        commit, files = store_state(root, store)
        if commit == before_commit and files == before_files:
            outcome = "previous"
        elif commit != before_commit and files == count_files(root):
            outcome = "new"
        else:
            outcome = f"WRONG: commit {'same' if commit == before_commit else 'new'} with {files} files"
    except Exception as exc:  # noqa: BLE001 - the failure is the measurement
        outcome = f"BROKEN: {type(exc).__name__}: {exc}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    return Trial(mode, sig.name, round(delay_s, 2), proc.returncode, len(lines), outcome, len(alive), len(seen),
                 round(exit_after_s, 2))


def api_reader(root: Path, store: Path, stop: threading.Event, reads: Reads) -> None:
    from exocortex import Index

    while not stop.is_set():
        try:
            if not Index.open(root, store=store).search("func value total", k=5):
                reads.errors.append("api: no hits")
            reads.api += 1
        except Exception as exc:  # noqa: BLE001
            reads.errors.append(f"api: {type(exc).__name__}: {exc}")


def cli_reader(root: Path, store: Path, stop: threading.Event, reads: Reads) -> None:
    argv = [sys.executable, "-m", "exocortex.cli", "search", "func value total", "-k", "5", "-C", str(root),
            "--store", str(store), "--json"]
    while not stop.is_set():
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        reads.cli += 1
        if proc.returncode != 0:
            reads.errors.append(f"cli: exit {proc.returncode}: {proc.stderr.strip()[:200]}")


def verdict_ok(trial: Trial) -> bool:
    exit_ok = trial.exit_code in (0, 130) if trial.signal == "SIGINT" else trial.exit_code in (0, -9)
    one_line = trial.stderr_lines <= 1 if trial.signal == "SIGINT" else True
    return trial.outcome in ("previous", "new") and trial.orphans == 0 and exit_ok and one_line


def render(trials: list[Trial], reads: Reads, args: argparse.Namespace, durations: dict[str, float],
           files: int) -> str:
    machine = machine_description()
    rows = []
    for mode in ("incremental", "rebuild"):
        for sig in ("SIGKILL", "SIGINT"):
            group = [t for t in trials if t.mode == mode and t.signal == sig]
            if not group:
                continue
            codes = sorted({t.exit_code for t in group})
            rows.append([
                mode, sig, len(group),
                sum(t.outcome == "previous" for t in group), sum(t.outcome == "new" for t in group),
                sum(t.outcome not in ("previous", "new") for t in group),
                sum(t.orphans for t in group), max(t.workers_seen for t in group),
                ", ".join(str(c) for c in codes), max(t.stderr_lines for t in group),
                f"{max(t.exit_after_s for t in group):.2f}", sum(verdict_ok(t) for t in group),
            ])
    table = markdown_table(
        ["mode", "signal", "trials", "at previous commit", "at new commit", "broken", "orphans",
         "workers seen (max)", "exit codes", "stderr lines (max)", "exit after signal s (max)", "ok"], rows)
    detail = markdown_table(
        ["mode", "signal", "delay s", "exit", "exit after s", "stderr lines", "store", "orphans"],
        [[t.mode, t.signal, f"{t.delay_s:.2f}", t.exit_code, f"{t.exit_after_s:.2f}", t.stderr_lines, t.outcome,
          t.orphans] for t in trials])
    errors = "\n".join(f"- {e}" for e in reads.errors[:20]) or "none"
    return f"""## Faults: kills and interrupts during index runs (`benchmarks/faults.py`)

`python benchmarks/faults.py --files {args.files} --kills {args.kills} --interrupts {args.interrupts} \
--seed {args.seed}` at commit `{git_commit()}`, {utc_now()}; {machine['cpu']}, {machine['cores']} cores,
{machine['ram']}, Python {machine['python']}.

A generated tree of {files:,} Python files, indexed with `--workers 2`. Each trial edits the tree
(incremental mode: 30% of files changed, 1% removed, 1% added), starts `exocortex index` (with
`--rebuild` in rebuild mode), sends the signal after a random delay of up to twice the run's duration
(measured before the trials: incremental {durations['incremental']:.1f} s, rebuild
{durations['rebuild']:.1f} s; SIGKILL to the main process as a crash does, SIGINT to the
process group as Ctrl-C does), then opens the store, checks its commit and file count against
the trees before and after, searches it, and waits {ORPHAN_GRACE_S:.0f} s for every worker the run
started to be gone.

{table}

Reads while the rebuild trials ran (each one a full `search`): {reads.api:,} through the Python
API, {reads.cli:,} `exocortex search` processes; **{len(reads.errors)} errors**.

{errors if reads.errors else ''}

<details><summary>Every trial</summary>

{detail}

</details>
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=10, help="SIGKILL trials per mode")
    parser.add_argument("--interrupts", type=int, default=5, help="SIGINT trials per mode")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing the docs")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="exocortex-faults-"))
    trials: list[Trial] = []
    reads = Reads()
    try:
        root, store = work / "tree", work / "store"
        make_tree(root, args.files, args.seed)
        log(f"tree of {args.files} files; cold index")
        durations = {"rebuild": run_index(root, store, rebuild=True)}
        edit_tree(root, rng, 0.3)
        durations["incremental"] = run_index(root, store, rebuild=False)
        log(f"durations: {durations}")
        for mode in ("incremental", "rebuild"):
            stop = threading.Event()
            readers = []
            if mode == "rebuild":
                readers = [threading.Thread(target=reader, args=(root, store, stop, reads))
                           for reader in (api_reader, cli_reader)]
                for thread in readers:
                    thread.start()
            signals = [signal.SIGKILL] * args.kills + [signal.SIGINT] * args.interrupts
            rng.shuffle(signals)
            for sig in signals:
                if mode == "incremental":
                    edit_tree(root, rng, 0.3)
                delay = rng.uniform(0.05, 2.0 * durations[mode])  # some land after the commit
                trial = one_trial(root, store, mode, sig, delay)
                log(f"{mode} {sig.name} at {delay:.2f}s: exit {trial.exit_code}, {trial.outcome}, "
                    f"{trial.orphans} orphans of {trial.workers_seen} workers")
                trials.append(trial)
            stop.set()
            for thread in readers:
                thread.join()
        run_index(root, store, rebuild=False)  # the store still takes a writer after it all
        body = render(trials, reads, args, durations, count_files(root))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.no_write:
        print(body)
    else:
        replace_docs_section("faults", body)
        log("wrote the faults section of docs/benchmarks.md")
    failed = [t for t in trials if not verdict_ok(t)]
    return 1 if failed or reads.errors else 0


if __name__ == "__main__":
    os.environ.setdefault("EXOCORTEX_LOG_LEVEL", "warning")
    sys.exit(main())
