"""What every command of the CLI prints through, shared by ``cli.py`` and ``genomics/cli_*.py``.

The consoles write to whatever ``sys.stdout`` / ``sys.stderr`` are at the time (so tests and
hosts that swap the streams see the output); JSON goes to stdout, logs and errors to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def configure_logging(level: str = "info") -> None:
    """:func:`exocortex.log.configure_logging`, imported on first use: structlog is not a start-up cost."""
    from exocortex.log import configure_logging as configure

    configure(level)
