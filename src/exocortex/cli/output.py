"""What every command of the CLI prints through.

The consoles write to whatever ``sys.stdout`` / ``sys.stderr`` are at the time (so tests and
hosts that swap the streams see the output); JSON goes to stdout, logs and errors to stderr.

Text meant for a terminal goes through :func:`printable` first: a file name can hold escape
sequences or a newline, and printing it raw would let it drive the terminal or split a line.
JSON keeps every string exactly (JSON escapes control characters itself).
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from exocortex.errors import InputPathError
from exocortex.escape import printable as printable  # re-exported: the commands print through it

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
JsonlOpt = Annotated[bool, typer.Option("--jsonl", help="Print one JSON object per line (one per row), nothing else.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")]


def cell(text: object) -> Text:
    """A table cell or title showing ``text`` as it is: escaped by :func:`printable`, no markup read in it."""
    return Text(printable(text))


def _finite(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def json_text(data: Any) -> str:
    """``data`` as strict JSON, indented (a NaN or an infinity, which JSON cannot carry, becomes null)."""
    try:
        return json.dumps(data, indent=2, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), indent=2, default=str, allow_nan=False)


def print_json(data: Any) -> None:
    """``data`` as one JSON document on stdout (see :func:`json_text`)."""
    sys.stdout.write(json_text(data) + "\n")


def print_jsonl(rows: Iterable[Any]) -> None:
    """Each row as one line of compact JSON on stdout (JSON Lines), and nothing else."""
    lines = []
    for row in rows:
        try:
            lines.append(json.dumps(row, default=str, allow_nan=False, separators=(",", ":")))
        except ValueError:
            lines.append(json.dumps(_finite(row), default=str, allow_nan=False, separators=(",", ":")))
    sys.stdout.write("".join(line + "\n" for line in lines))


def json_mode(as_json: bool, as_jsonl: bool) -> None:
    """Refuse ``--json`` together with ``--jsonl`` (one document, or one per row: not both)."""
    if as_json and as_jsonl:
        from exocortex.errors import UsageError

        raise UsageError("pass --json (one JSON document) or --jsonl (one JSON object per line), not both")


def source_text(text: str) -> str:
    """Lines of a file for a terminal: each escaped by :func:`printable`, tabs and line breaks kept
    (a CRLF line ending shown as a plain line break)."""
    return "\n".join("\t".join(printable(part) for part in line.removesuffix("\r").split("\t"))
                     for line in text.split("\n"))


def configure_logging(level: str = "info") -> None:
    """:func:`exocortex.log.configure_logging`, imported on first use: structlog is not a start-up cost."""
    from exocortex.log import configure_logging as configure

    configure(level)


def write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to ``target``: a regular file is replaced whole (a temporary file renamed over it),
    so an error or an interrupt never leaves a partial one; a device or FIFO is written to directly."""
    import tempfile

    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise InputPathError(f"cannot write {target}: {exc.strerror}") from None
    try:
        if mode is not None and not stat.S_ISREG(mode):  # /dev/stdout, /dev/null, a FIFO
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(text)
            return
        try:
            fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        except PermissionError:
            if mode is None or not os.access(target, os.W_OK):
                raise
            # A writable file in a folder where no file can be made: written in place (not atomic).
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(text)
            return
    except OSError as exc:
        raise InputPathError(f"cannot write {target}: {exc.strerror}") from None
    try:
        with open(fd, "w", encoding="utf-8", closefd=True) as fh:
            fh.write(text)
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        else:
            os.chmod(temporary, stat.S_IMODE(mode))
        os.replace(temporary, target)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise InputPathError(f"cannot write {target}: {exc.strerror or exc}") from None
        raise
