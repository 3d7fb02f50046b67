"""Structured logs: JSON lines when stderr is not a terminal, a compact console view when it is."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

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


def configure_logging(level: str = "info", *, json_lines: bool | None = None) -> None:
    """Route structlog to stderr; call once from the CLI. Library users keep their own setup."""
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
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


def get_logger(name: str) -> Any:
    # Used as a library with structlog left unconfigured, structlog would print
    # everything to stdout; send warnings and worse to stderr instead.
    if not structlog.is_configured():
        configure_logging("warning")
    return structlog.get_logger(name)
