"""Running one command: errors become one line and an exit code, signals end the run cleanly."""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import typer
from typer.exceptions import TyperException

from exocortex.cli._startup import interrupted_while_finishing, interrupted_while_starting, leave
from exocortex.cli.app import app
from exocortex.cli.output import err, printable
from exocortex.errors import INTERRUPTED_EXIT_CODE, TERMINATED_EXIT_CODE, ExocortexError, UsageError


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so a run ends the same clean way."""


_DEFER_S = 0.02
_MAX_DEFERRALS = 100


def _fragile(frame: FrameType | None) -> bool:
    """Whether the main thread is in code that a KeyboardInterrupt would leave holding a lock:
    importlib's module locks, logging's lock (taken around every fork)."""
    if frame is None:
        return False
    name = frame.f_code.co_filename
    return name.startswith("<frozen importlib._bootstrap") or name.endswith(os.path.join("logging", "__init__.py"))


class _Interrupts:
    """The signals (SIGINT, SIGTERM) a command received, and how its run ends because of them.

    The first signal raises ``KeyboardInterrupt`` (``_Terminated`` for SIGTERM) in the main
    thread, so every cleanup runs (the worker pool shuts down, the lock is released), then the
    command says so in one line. Cleanup is bounded: a second signal, or ``exit_after_s``
    seconds without the process having exited (a KeyboardInterrupt at the wrong moment can leave
    a lock held: the import lock, a pool's), end the process at once with the same line and code.
    Nothing committed is lost either way: commits are atomic, and the kernel releases the writer
    lock and ends the workers with their parent.
    """

    def __init__(self, exit_after_s: float) -> None:
        self.received: list[int] = []
        self.exit_after_s = exit_after_s
        self._lock = threading.Lock()
        self._reported = False
        self._timer: threading.Timer | None = None
        self._deferrals = 0

    @property
    def code(self) -> int:
        return TERMINATED_EXIT_CODE if signal.SIGTERM in self.received else INTERRUPTED_EXIT_CODE

    def report(self, note: str = "") -> int:
        """Print the one line (once), and give the exit code."""
        with self._lock:
            if self._reported:
                return self.code
            self._reported = True
        what = "terminated (SIGTERM)" if self.code == TERMINATED_EXIT_CODE else "interrupted"
        err.print(f"exocortex: {what}{note}; what was committed before is intact", highlight=False, markup=False)
        return self.code

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if _fragile(frame) and self._deferrals < _MAX_DEFERRALS:
            # Raising here would leave a lock held for ever (the import lock, logging's): come back
            # to it in a moment, once the main thread has left that code.
            self._deferrals += 1
            again = threading.Timer(_DEFER_S, os.kill, args=(os.getpid(), signum))
            again.daemon = True
            again.start()
            return
        self._deferrals = 0
        self.received.append(signum)
        if len(self.received) > 1:
            self._exit_now(" again: exiting without waiting for cleanup")
        self._timer = threading.Timer(self.exit_after_s, self._exit_now,
                                      args=(f" and cleanup took over {self.exit_after_s:g} s: exiting without it",))
        self._timer.daemon = True
        self._timer.start()
        raise _Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    def _exit_now(self, note: str) -> None:
        leave(self.report(note))

    def stop_watching(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


@contextmanager
def _signals_end_the_run(interrupts: _Interrupts, *, program: bool = False) -> Iterator[None]:
    """While a command runs, SIGINT and SIGTERM end it through ``interrupts`` (exit 130 / 143, one line).

    Without this, SIGTERM's default action kills the process at once (no message, no cleanup).
    SIGINT is left alone where it is not Python's default handler (a background job of a
    non-interactive shell starts with it ignored). Forked workers inherit the handler; in them
    it does what the signal's default action would.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        interrupts.on_signal(signum, frame)

    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(signum)
        if signum == signal.SIGINT and current is not signal.default_int_handler:
            continue
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for number, before in previous.items():
            # The program is about to exit: a signal from here on must not become a traceback or a
            # bare death by SIGINT while the interpreter shuts down.
            if program:
                signal.signal(number, interrupted_while_finishing)
            elif before is not None:
                signal.signal(number, before)


def _usage_error(exc: TyperException) -> None:
    """One line for a usage error (the whole help for a command given no arguments)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        show = getattr(exc, "show", None)
        if show is not None:
            show()
            return
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "exocortex"
    message = " ".join(exc.format_message().split())
    err.print(f"exocortex: usage error: {printable(message)} (see `{printable(command)} --help`)",
              highlight=False, markup=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning errors into one line and an exit code.

    Called without ``argv`` (the ``exocortex`` program), the process ends here: output is flushed
    and the process exits without the interpreter's shutdown, which took about 0.6 s after an
    index run (the database's runtime winding down; every write was committed and synced before)
    and in which a Ctrl-C could only kill the process with no word. Called with ``argv``
    (embedded, tests), it returns the exit code.
    """
    from exocortex.config import INTERRUPT_CLEANUP_S

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("EXOCORTEX_DEBUG"))
    interrupts = _Interrupts(INTERRUPT_CLEANUP_S)
    for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        if signal.getsignal(signum) is interrupted_while_starting:  # started: the run's handlers from here
            signal.signal(signum, default)
    try:
        code = _run(args, debug, interrupts, program=argv is None)
    finally:
        if argv is not None:
            interrupts.stop_watching()
    if argv is None:
        leave(code)
    return code


def _run(args: list[str], debug: bool, interrupts: _Interrupts, *, program: bool = False) -> int:
    try:
        with _signals_end_the_run(interrupts, program=program):
            # Not standalone: typer *returns* an exit code (130 for Ctrl-C, that of typer.Exit).
            result = app(args=args, prog_name="exocortex", standalone_mode=False)
        code = result if isinstance(result, int) and not isinstance(result, bool) else 0
    except typer.Exit as exc:
        code = int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        code = INTERRUPTED_EXIT_CODE
    except TyperException as exc:  # usage errors: bad options, missing arguments
        _usage_error(exc)
        return UsageError.exit_code
    except Exception as exc:
        if interrupts.received:  # what a signal broke on its way out (a pool, a store call)
            return interrupts.report()
        if debug:
            traceback.print_exc()
        if isinstance(exc, ExocortexError):
            err.print(f"exocortex: error: {printable(exc.message)}", highlight=False, markup=False)
            return exc.exit_code
        err.print(  # a bug: say so in one line, keep the traceback for --debug
            f"exocortex: internal error: {type(exc).__name__}: {printable(exc)} (run with --debug for the traceback)",
            highlight=False,
            markup=False,
        )
        return 1
    if interrupts.received or code == INTERRUPTED_EXIT_CODE:
        return interrupts.report()
    return code
