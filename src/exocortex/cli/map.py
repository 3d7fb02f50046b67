"""``exocortex map``, ``symbol``, ``refs`` and ``read``: the outline with no query, and the exact lookups.

Each is one call into :class:`exocortex.api.Index` (``map``, ``find_symbol``, ``find_references``,
``read_range``); ``--json`` prints the answer as one document, ``--jsonl`` one object per row.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from exocortex.cli.app import PathOpt, StoreOpt, app, found_index, store_option
from exocortex.cli.output import (
    DebugOpt,
    JsonlOpt,
    JsonOpt,
    configure_logging,
    print_json,
    print_jsonl,
    printable,
    source_text,
)

GlobsOpt = Annotated[
    list[str] | None,
    typer.Option("--include", metavar="GLOB", help="Only files these gitignore-style globs match (repeatable)."),
]
FocusOpt = Annotated[
    list[str] | None,
    typer.Option("--focus", metavar="PATH", help="Rank these paths or globs and their neighbours first (repeatable)."),
]


def _write(text: str) -> None:
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")


@app.command("map")
def map_command(
    budget: Annotated[str, typer.Option("--budget", help="Hard token budget: 2000, 2k, 128k.")] = "2k",
    include: GlobsOpt = None,
    focus: FocusOpt = None,
    tokenizer: Annotated[str | None, typer.Option("--tokenizer", help="o200k_base (default) or cl100k_base.")] = None,
    path: PathOpt = ".",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    debug: DebugOpt = False,
) -> None:
    """A ranked outline of the repository (central files and their definitions) within a token budget."""
    index = found_index(path, store, debug=debug, as_json=as_json, as_jsonl=as_jsonl)
    outline = index.map(budget, include=include, focus=focus, tokenizer=tokenizer)
    if as_json:
        print_json(outline.to_dict())
    elif as_jsonl:
        print_jsonl(outline.files)
    else:
        _write(outline.text)  # paths and signatures in it are escaped already


@app.command("symbol")
def symbol_command(
    name: Annotated[str, typer.Argument(help="A function, class or method name (Class.method works).")],
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind: function, class, method, ...")] = None,
    body: Annotated[bool, typer.Option("--body", help="Print each definition's source lines too.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many definitions.")] = 50,
    path: PathOpt = ".",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Where NAME is defined: path, line range, kind and signature (exact names first)."""
    index = found_index(path, store, debug=debug, as_json=as_json, as_jsonl=as_jsonl)
    found = index.find_symbol(name, kind=kind, include_body=body, limit=limit)
    if as_json:
        print_json({"name": name, "symbols": found})
        return
    if as_jsonl:
        print_jsonl(found)
        return
    lines = []
    for row in found:
        start, end = row["lines"]
        signature = " ".join(row["signature"].split())
        lines.append(f"{printable(row['path'])}:{start}-{end}\t{printable(row['kind'])}\t{printable(row['name'])}"
                     f"\t{printable(signature)}\n")
        if body:
            lines.append(source_text(row["body"].removesuffix("\n")) + "\n\n")
    sys.stdout.write("".join(lines))


@app.command("refs")
def refs_command(
    symbol: Annotated[str, typer.Argument(help="The name whose uses to list (its last component is matched).")],
    in_path: Annotated[
        str | None, typer.Option("--path", metavar="GLOB", help="Only in this file, or the files this glob matches.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many lines.")] = 100,
    path: Annotated[str, typer.Option("-C", help="The indexed directory (default: .).")] = ".",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    as_jsonl: JsonlOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Where SYMBOL is used: path:line: text, one line per use (its definitions left out)."""
    index = found_index(path, store, debug=debug, as_json=as_json, as_jsonl=as_jsonl)
    found = index.find_references(symbol, path=in_path, limit=limit)
    if as_json:
        print_json({"symbol": symbol, "references": found})
    elif as_jsonl:
        print_jsonl(found)
    else:
        sys.stdout.write("".join(f"{printable(r['path'])}:{r['line']}: {printable(r['text'])}\n" for r in found))


@app.command("read")
def read_command(
    file: Annotated[str, typer.Argument(help="An indexed file (relative to -C, or absolute inside it).")],
    start: Annotated[int, typer.Argument(help="First line (1-based).")] = 1,
    end: Annotated[int | None, typer.Argument(help="Last line, inclusive (default: the end of the file).")] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Stop at the last whole line within this many tokens.")
    ] = None,
    path: PathOpt = ".",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Print lines START..END of an indexed FILE as they are on disk now."""
    from exocortex.api import Index

    configure_logging("debug" if debug else "warning")
    index = Index.find(path, store=store_option(store))
    # FILE is relative to -C (the working directory by default), as a shell user means it; the
    # API confines it to the index's root (-C may be a subdirectory of it).
    target = file if os.path.isabs(file) else os.path.abspath(os.path.join(path, file))
    result = index.read_range(target, start, end if end is not None else 2**62, max_tokens=max_tokens)
    if as_json:
        print_json(result)
    else:
        _write(source_text(result["text"]))
