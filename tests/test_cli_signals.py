"""Ctrl-C (SIGINT) and SIGTERM end a run with one line and exit 130 / 143, in real processes.

Each test runs the installed console script, signals it while it works, and checks what a
user sees: the exit code, one line on stderr and no traceback, and that the index committed
before the signal still answers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from exocortex.errors import EXIT_CODES

from .conftest import SAMPLE_FILES, write_tree

EXE = str(Path(sys.executable).parent / "exocortex")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOCORTEX_")}
    env.update(extra)
    return env


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=_env(), timeout=120)


def _many_files(root: Path, count: int) -> None:
    body = "".join(f"def handler_{{i}}_{j}(event):\n    return event + {j}\n\n" for j in range(30))
    for i in range(count):
        folder = root / f"gen{i % 20}"
        folder.mkdir(exist_ok=True)
        (folder / f"m{i}.py").write_text(body.replace("{i}", str(i)))


def _wait_for_workers(proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Until the run has started its worker processes (it is then in the middle of its work)."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        if parent.children():
            return
        time.sleep(0.02)
    raise AssertionError("no worker process started")


def _assert_one_line(stderr: str, words: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert words in lines[0] and "Traceback" not in stderr


@pytest.fixture
def committed(tmp_path: Path) -> Path:
    """A tree with a committed index of the sample files, then 2,000 new files not yet indexed."""
    root = tmp_path / "tree"
    root.mkdir()
    write_tree(root, SAMPLE_FILES)
    done = _run("index", str(root), "--json")
    assert done.returncode == 0, done.stderr
    _many_files(root, 2000)
    return root


@pytest.mark.parametrize(("sig", "code", "words"), [(signal.SIGINT, 130, "interrupted"),
                                                    (signal.SIGTERM, 143, "terminated")])
def test_a_signal_mid_index_ends_the_run_and_keeps_the_last_commit(
    committed: Path, sig: signal.Signals, code: int, words: str
) -> None:
    proc = subprocess.Popen(
        [EXE, "index", str(committed), "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(EXOCORTEX_INLINE_MAX_BYTES="0"),  # workers even for a small change set
    )
    try:
        _wait_for_workers(proc)
        workers = psutil.Process(proc.pid).children()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, stderr
    _assert_one_line(stderr, words)
    assert "indexed" not in stdout  # no success report
    assert code in EXIT_CODES
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive  # no orphaned worker

    status = _run("status", str(committed), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["files"] == len(SAMPLE_FILES)  # the commit from before the signal
    search = _run("search", "slugify", "-C", str(committed), "--json")
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["results"][0]["path"] == "app/util.py"


def _wait_until_idle(proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Until the process sleeps without using the CPU (it is waiting for its input)."""
    process = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    last = -1.0
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        times = process.cpu_times()
        used = times.user + times.system
        if used == last and process.status() == psutil.STATUS_SLEEPING:
            return
        last = used
        time.sleep(0.3)
    raise AssertionError("the process never waited for its input")


@pytest.mark.parametrize(("sig", "code", "words"), [(signal.SIGINT, 130, "interrupted"),
                                                    (signal.SIGTERM, 143, "terminated")])
def test_a_signal_while_a_command_waits_for_its_input(
    sample_repo: Path, sig: signal.Signals, code: int, words: str
) -> None:
    proc = subprocess.Popen(
        [EXE, "pack", "--query-file", "-", "-C", str(sample_repo)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )
    try:
        _wait_until_idle(proc)
        proc.send_signal(sig)
        proc.wait(timeout=60)  # stdin stays open: the command is still waiting when the signal comes
        assert proc.stdout is not None and proc.stderr is not None
        stdout, stderr = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == code
    _assert_one_line(stderr, words)
    assert stdout == ""


STUCK_CLEANUP = """
import sys, time
from exocortex.cli import runner as cli

interrupts = cli._Interrupts(exit_after_s=float(sys.argv[1]))
with cli._signals_end_the_run(interrupts):
    try:
        print("ready", flush=True)
        time.sleep(60)
    finally:
        time.sleep(60)  # a cleanup that never ends (a lock a KeyboardInterrupt left held)
"""


@pytest.mark.parametrize(("exit_after_s", "signals", "words"), [(0.5, 1, "cleanup took over 0.5 s"),
                                                               (60.0, 2, "again")])
def test_a_stuck_cleanup_does_not_keep_the_process_alive(exit_after_s: float, signals: int, words: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", STUCK_CLEANUP, str(exit_after_s)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert time.monotonic() - started < 10
    assert proc.returncode == 130
    _assert_one_line(stderr, words)


def test_ctrl_c_while_the_program_starts_is_one_line(sample_repo: Path) -> None:
    """A Ctrl-C while the program is still importing (its first few hundred ms) is one line, not a traceback.

    The signal is sent from an import hook at the moment the CLI imports typer, so it lands in
    the middle of the program's start-up every time.
    """
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.argv = ["exocortex", "status", {str(sample_repo)!r}]
        class InterruptOnTyper:
            def find_spec(self, name, path=None, target=None):
                if name == "typer":
                    os.kill(os.getpid(), signal.SIGINT)
                return None
        sys.meta_path.insert(0, InterruptOnTyper())
        from exocortex.cli import main
        sys.exit(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 130
    _assert_one_line(proc.stderr, "interrupted")
