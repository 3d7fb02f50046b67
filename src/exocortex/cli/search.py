"""``exocortex search`` and ``exocortex pack``: ranked chunks, and the context a question needs."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from exocortex.cli.app import PathOpt, StoreOpt, app, found_index, store_option
from exocortex.cli.output import (
    DebugOpt,
    JsonlOpt,
    JsonOpt,
    cell,
    configure_logging,
    err,
    json_text,
    out,
    print_json,
    print_jsonl,
    printable,
    write_atomically,
)
from exocortex.errors import ConfigError, InputPathError, NoMatchesError, UsageError

IncludeOpt = Annotated[
    list[str] | None,
    typer.Option("--include", metavar="GLOB",
                 help="Only files this gitignore-style glob matches, e.g. 'src/**/*.py', 'tests/', '*.md' "
                      "(repeatable: any of them)."),
]
ExcludeOpt = Annotated[
    list[str] | None,
    typer.Option("--exclude", metavar="GLOB", help="Leave out files this glob matches (repeatable)."),
]


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="What to look for: a question, identifiers, an error message.")],
    k: Annotated[int, typer.Option("-k", min=1, help="How many results (at least 1).")] = 20,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    path: PathOpt = ".",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Rank the indexed chunks for QUERY."""
    from rich.table import Table

    index = found_index(path, store, debug=debug, as_json=as_json, as_jsonl=as_jsonl)
    hits = index.search(query, k, include=include, exclude=exclude)
    if as_jsonl:
        print_jsonl({"path": h.path, "symbol": h.symbol, "kind": h.kind, "lines": list(h.lines), "score": h.score,
                     "signals": h.signals} for h in hits)
        return
    if as_json:
        print_json(
            {
                "query": query,
                "results": [
                    {
                        "path": h.path,
                        "symbol": h.symbol,
                        "kind": h.kind,
                        "lines": list(h.lines),
                        "score": h.score,
                        "signals": h.signals,
                    }
                    for h in hits
                ],
                "index": index.freshness.to_dict() if index.freshness is not None else None,
            }
        )
        return
    if not out.is_terminal:  # piped (an agent, grep): one whole line per hit, never cut to a width
        sys.stdout.write("".join(
            f"{printable(h.path)}:{h.lines[0]}-{h.lines[1]}\t{printable(h.symbol)}\t{h.kind}\t{h.score:.4f}\n"
            for h in hits
        ))
        return
    table = Table(title=cell(f"search: {query}"))
    for col in ("#", "score", "location", "symbol", "kind"):
        table.add_column(col, justify="right" if col in ("#", "score") else "left")
    for rank, h in enumerate(hits, 1):
        table.add_row(str(rank), f"{h.score:.4f}", cell(f"{h.path}:{h.lines[0]}-{h.lines[1]}"), cell(h.symbol),
                      cell(h.kind))
    out.print(table)


@app.command("pack")
def pack_command(
    query: Annotated[str | None, typer.Argument(help="The question or task (or use --query-file).")] = None,
    budget: Annotated[str, typer.Option("--budget", help="Hard token budget: 8000, 128k, 1m, 10m.")] = "8k",
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="o200k_base (default) or cl100k_base.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="markdown, xml or json.")] = "markdown",
    out_file: Annotated[str | None, typer.Option("--out", help="Write the context to FILE.")] = None,
    query_file: Annotated[
        str | None, typer.Option("--query-file", help="Read the query from FILE (long task texts).")
    ] = None,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    pin: Annotated[
        list[str] | None,
        typer.Option("--pin", metavar="PATH",
                     help="Put this file in first, whole if it fits, else its skeleton (root-relative; repeatable)."),
    ] = None,
    no_redact: Annotated[
        bool, typer.Option("--no-redact", help="Keep secrets as they are (by default they become [REDACTED:type]).")
    ] = False,
    path: PathOpt = ".",
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Pack the context QUERY needs into a hard token budget."""
    from exocortex.api import Index

    configure_logging("debug" if debug else "warning")
    if query_file is not None and query is not None:
        raise UsageError("pass QUERY or --query-file FILE, not both")
    if fmt not in ("markdown", "xml", "json"):
        raise ConfigError(f"unknown format {fmt!r} (choose markdown, xml or json)")
    target = _out_target(out_file) if out_file is not None else None
    index = Index.find(path, store=store_option(store))
    if query_file is not None:
        query = _read_query_file(query_file, index.config.max_query_bytes)
    if not query:
        raise NoMatchesError("no query: pass QUERY or --query-file FILE")
    pack = index.pack(query, budget, tokenizer=tokenizer, format=fmt, include=include, exclude=exclude, pin=pin,
                      redact=not no_redact)
    if pack.redactions:
        err.print(redaction_note(pack.redactions), highlight=False, markup=False)
    rendered = json_text(pack.to_dict()) + "\n" if fmt == "json" else pack.text
    if target is not None:
        write_atomically(target, rendered)
        err.print(f"wrote {pack.tokens:,} tokens ({pack.tokenizer}) to {printable(out_file)}",
                  highlight=False, markup=False)
    else:
        sys.stdout.write(rendered if rendered.endswith("\n") else rendered + "\n")


def redaction_note(redactions: Sequence[dict[str, Any]], shown: int = 10) -> str:
    """``exocortex: redacted 3 secrets (config/app.ini:2, config/app.ini:3, deploy/key.pem:1)``."""
    where = [f"{printable(r['path'])}:{r['line']}" for r in redactions[:shown]]
    if len(redactions) > shown:
        where.append(f"and {len(redactions) - shown} more")
    noun = "secret" if len(redactions) == 1 else "secrets"
    return f"exocortex: redacted {len(redactions)} {noun} ({', '.join(where)})"


def _read_query_file(name: str, max_bytes: int) -> str:
    """The text of ``--query-file NAME`` (``-``: standard input), at most ``max_bytes`` bytes of UTF-8.

    Only a regular file (or ``-``) is read: a directory, a FIFO or a device (``/dev/zero``) is
    refused before any read, so nothing blocks or reads for ever.
    """
    if name == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
        where = "standard input"
    else:
        if not name:
            raise InputPathError("--query-file is empty: pass a text file (or - for standard input)")
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise InputPathError(f"cannot read the query file {name}: {exc.strerror}") from None
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise InputPathError(f"the query file {name} is a directory: pass a text file")
            if not stat.S_ISREG(mode):
                raise InputPathError(f"the query file {name} is not a regular file (a FIFO, socket or device): "
                                     "pass a text file, or - to read standard input")
            with open(fd, "rb", closefd=False) as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise InputPathError(f"cannot read the query file {name}: {exc.strerror}") from None
        finally:
            os.close(fd)
        where = f"the query file {name}"
    if len(data) > max_bytes:
        raise UsageError(f"{where} holds more than max_query_bytes ({max_bytes:,} bytes): shorten the query "
                         "or raise EXOCORTEX_MAX_QUERY_BYTES")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputPathError(f"{where} is not UTF-8 text (invalid byte at offset {exc.start:,})") from None


def _out_target(out_file: str) -> Path:
    """Where ``--out`` writes, checked before any work: not a directory, in a folder that exists."""
    if not out_file:
        raise InputPathError("--out is empty: pass a file name")
    target = Path(out_file).expanduser().resolve()
    if target.is_dir():
        raise InputPathError(f"--out {out_file} is a directory: pass a file name")
    folder = target.parent
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise InputPathError(f"cannot write {out_file}: the folder {folder} {what}")
    return target
