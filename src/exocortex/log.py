"""Structured logs: JSON lines when stderr is not a terminal, a compact console view when it is.

structlog is imported by the first line logged (or by ``configure_logging``), not by the modules
that ask for a logger: its imports (asyncio among them) cost about 0.1 s, which a command that
logs nothing should not pay at start-up.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class _StderrLogger:
    """Writes each line to ``sys.stderr`` as it is when the line is logged.

    structlog's ``PrintLoggerFactory(file=sys.stderr)`` keeps the stream it was given; when
    stderr is later replaced (a test's capture, a host that redirects it) and the old one
    closed, every later log line would fail with "I/O operation on closed file".
    """

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


_pending: tuple[str, bool | None] | None = None  # what configure_logging asked for, not yet applied


def configure_logging(level: str = "info", *, json_lines: bool | None = None) -> None:
    """Route structlog to stderr; call once from the CLI. Library users keep their own setup.

    Applied when the first line is logged (at once if structlog is already in use)."""
    global _pending
    _pending = (level, json_lines)
    if "structlog" in sys.modules:
        _apply()


def _apply() -> None:
    """Configure structlog as ``configure_logging`` asked, or for a library user who did not
    configure it (then structlog would print everything to stdout): warnings and worse to stderr."""
    global _pending
    import structlog

    if _pending is None:
        if structlog.is_configured():
            return
        _pending = ("warning", None)
    level, json_lines = _pending
    _pending = None
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=lambda *_: _StderrLogger(),
        cache_logger_on_first_use=False,
    )


class _Logger:
    """A named logger that becomes structlog's on first use (see the module)."""

    __slots__ = ("_name", "_real")

    def __init__(self, name: str) -> None:
        self._name = name
        self._real: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._real is None:
            import structlog

            _apply()
            self._real = structlog.get_logger(self._name)
        return getattr(self._real, attr)


def get_logger(name: str) -> Any:
    return _Logger(name)
