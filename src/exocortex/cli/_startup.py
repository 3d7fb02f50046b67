"""What the ``exocortex`` program does before anything else: a Ctrl-C while it starts is one line.

Imported first by ``exocortex.cli`` (before typer, rich and the API), so it imports nothing but the
standard library and the exit codes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import suppress
from types import FrameType

# Imported before the start-up signal handlers below: a handler must not import while the
# program may be in the middle of an import.
from exocortex.errors import INTERRUPTED_EXIT_CODE, TERMINATED_EXIT_CODE


def leave(code: int, line: str = "") -> None:
    """End the process at once with ``code``: what was written is flushed first, then ``line`` on stderr."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):  # a closed pipe (`| head`) is not an error of ours
            stream.flush()
    if line:
        os.write(2, line.encode() + b"\n")
    os._exit(code)


def signal_code(signum: int) -> int:
    return INTERRUPTED_EXIT_CODE if signum == signal.SIGINT else TERMINATED_EXIT_CODE


def interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C (or SIGTERM) before ``main`` runs: nothing has started, so say so and leave at once."""
    leave(signal_code(signum), "exocortex: interrupted while starting; nothing was changed")


def interrupted_while_finishing(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C (or SIGTERM) after the command has ended, while the process exits."""
    leave(signal_code(signum), "exocortex: interrupted while exiting; what was committed before is intact")


# The ``exocortex`` program (or ``python -m exocortex.cli``) spends its first few hundred ms importing;
# a Ctrl-C then would print Python's traceback. ``main`` puts the run's own handlers in place.
_ARGV0 = sys.argv[0] if sys.argv else ""
# ``python -m exocortex.cli`` imports this package while sys.argv[0] is still "-m".
STARTING_AS_PROGRAM = _ARGV0 == "-m" or os.path.basename(_ARGV0) == "exocortex" or _ARGV0.endswith(
    os.path.join("exocortex", "cli", "__main__.py"))
if STARTING_AS_PROGRAM and threading.current_thread() is threading.main_thread():
    for _signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(_signum) in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(_signum, interrupted_while_starting)
