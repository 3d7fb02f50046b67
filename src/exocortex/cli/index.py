"""``exocortex index`` and ``exocortex status``: build an index, and say what it holds."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from exocortex.cli.app import (
    StoreOpt,
    app,
    flag,
    found_index,
    human_bytes,
    print_skipped,
    progress_bar,
    skipped_table,
    store_option,
)
from exocortex.cli.output import (
    DebugOpt,
    JsonOpt,
    cell,
    configure_logging,
    err,
    json_mode,
    out,
    print_json,
    print_jsonl,
    printable,
)
from exocortex.errors import NothingToIndexError


@app.command("index")
def index_command(
    path: Annotated[str, typer.Argument(help="Directory to index.")] = ".",
    store: StoreOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write nothing; show files, bytes, estimated tokens and time.")
    ] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Discard the existing index and start over.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every skipped file with its reason.")] = False,
    max_file_size: Annotated[
        str | None, typer.Option("--max-file-size", help="Skip files larger than this (default 2MiB).")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes (default: one per core).")] = None,
    wait: Annotated[
        float | None, typer.Option("--wait", help="Seconds to wait for another writer to finish.")
    ] = None,
    as_json: JsonOpt = False,
    as_jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Print only the skipped files, one JSON object per line.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Index a directory: files, chunks, symbols and exact token counts, incrementally."""
    from exocortex.api import Index
    from exocortex.config import parse_size

    configure_logging("debug" if debug else "warning")
    json_mode(as_json, as_jsonl)
    settings: dict[str, Any] = {"workers": flag("--workers", "workers", workers),
                                "lock_wait_s": flag("--wait", "lock_wait_s", wait)}
    if max_file_size is not None:
        settings["max_file_bytes"] = flag("--max-file-size", "max_file_bytes", parse_size(max_file_size))
    index = Index.open(path, store=store_option(store), **settings)

    if dry_run:
        plan = index.dry_run()
        if as_json:
            print_json(plan.to_dict(with_skipped_files=verbose))
            return
        if as_jsonl:
            print_jsonl(_skipped_rows(plan.skipped_files))
            return
        from rich.table import Table

        table = Table(title=cell(f"dry run: {plan.root} (nothing written)"))
        for col in ("directory", "files", "bytes", "est. tokens"):
            table.add_column(col, justify="left" if col == "directory" else "right")
        for d in plan.directories:
            table.add_row(cell(d.directory), f"{d.files:,}", human_bytes(d.bytes), f"{d.est_tokens:,}")
        table.add_row("total", f"{plan.files:,}", human_bytes(plan.bytes), f"{plan.est_tokens:,}", style="bold")
        out.print(table)
        out.print(f"skipped: {skipped_table(plan.skipped)}", highlight=False, markup=False)
        if verbose:
            print_skipped(plan.skipped_files)
        if plan.existing_index:
            out.print(f"existing index: {plan.would_process:,} files to (re)process, {plan.would_remove:,} to remove")
        out.print(
            f"estimated indexing time: {plan.est_seconds:.1f} s on {index.config.effective_workers()} workers "
            f"(tokens estimated at {plan.tokens_per_byte:.3f} per byte from a sample)"
        )
        return

    with progress_bar(err.is_terminal and not debug) as progress:
        report = index.update(rebuild=rebuild, progress=progress)
    if as_json:
        print_json(report.to_dict(with_skipped_files=verbose))
    elif as_jsonl:
        print_jsonl(_skipped_rows(report.skipped_files))
    else:
        out.print(
            f"indexed {printable(report.root)}: {report.files:,} files, {report.chunks:,} chunks, "
            f"{report.tokens:,} tokens, {human_bytes(report.bytes)}",
            highlight=False,
            markup=False,
        )
        out.print(
            f"this run: {report.processed:,} processed ({report.added:,} new, {report.changed:,} changed), "
            f"{report.unchanged + report.touched:,} unchanged, {report.removed:,} removed, "
            f"{human_bytes(report.bytes_read)} read in {report.seconds:.2f} s",
            highlight=False,
        )
        out.print(f"skipped: {skipped_table(report.skipped)}", highlight=False, markup=False)
        if verbose:
            print_skipped(report.skipped_files)
        out.print(f"store: {printable(report.store)}", highlight=False, markup=False)
    if report.files == 0:
        skipped = sum(report.skipped.values())
        raise NothingToIndexError(f"nothing to index in {report.root}: no indexable files ({skipped} skipped)")


def _skipped_rows(skipped: list[Any]) -> list[dict[str, str]]:
    return [{"path": s.path, "reason": s.reason, "detail": s.detail} for s in skipped]


@app.command("status")
def status_command(
    path: Annotated[str, typer.Argument(help="Indexed directory.")] = ".",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List files that were not chunked by structure.")
    ] = False,
    tree: Annotated[
        bool, typer.Option("--tree", help="Files, tokens and bytes per directory (each one's whole subtree).")
    ] = False,
    depth: Annotated[
        int | None, typer.Option("--depth", min=0, help="With --tree: directories down to this depth (0: the root).")
    ] = None,
    as_jsonl: Annotated[
        bool, typer.Option("--jsonl", help="With --tree: one JSON object per directory, nothing else.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Show what the index holds: files, chunks, tokens, languages, coverage, size, age, last run."""
    from rich.table import Table

    index = found_index(path, store, debug=debug, as_json=as_json, as_jsonl=as_jsonl)
    if tree or depth is not None or as_jsonl:
        _print_tree(index, depth, as_json, as_jsonl)
        return
    status = index.status()
    unstructured = index.unstructured_files() if verbose else []
    memory = index.memory_stats()
    if as_json:
        data = status.to_dict()
        data["memory"] = memory
        if verbose:
            data["unstructured_files"] = unstructured
        print_json(data)
        return
    table = Table(show_header=False, title=cell(f"exocortex index of {status.root}"))
    table.add_column("field")
    table.add_column("value")
    last = status.last_run
    building = status.building
    rows = [
        ("store", f"{status.store} ({human_bytes(status.store_bytes)}, schema v{status.schema_version})"),
        *([(
            "index",
            f"being built: {building['files_done']:,} of {building['files_planned']:,} files so far (a run is "
            "in progress, or was stopped: `exocortex index` finishes it); searches answer from these",
        )] if building else []),
        ("files", f"{status.files:,} ({human_bytes(status.bytes)})"),
        ("chunks", f"{status.chunks:,}"),
        ("tokens", f"{status.tokens:,} ({status.tokenizer})"),
        ("languages", ", ".join(f"{k} {v:,}" for k, v in status.languages.items()) or "none"),
        (
            "structural chunking",
            f"{status.structural_files:,} of {status.files:,} files ({status.structural_coverage:.0%})",
        ),
        ("index age", f"{status.age_s:,.0f} s"),
        ("last run", f"{last.get('seconds') or 0:.2f} s, {last.get('processed') or 0:,} files processed"),
        ("timings", ", ".join(f"{k} {v:.2f}s" for k, v in (last.get("timings") or {}).items())),
        ("skipped", skipped_table(last.get("skipped") or {})),
        ("search data", _search_data_row(status.search_data)),
        *_memory_rows(memory),
    ]
    for key, value in rows:
        table.add_row(key, cell(value))
    out.print(table)
    if verbose:
        out.print(f"files chunked by line windows ({len(unstructured)}):", highlight=False, markup=False)
        for row in unstructured:
            out.print(f"  {printable(row['path'])}  ({row['language'] or 'text'})", highlight=False, markup=False)


def _search_data_row(state: dict[str, Any]) -> str:
    if not state.get("built"):
        return "not built for this commit yet (the next search builds it)"
    text = f"built: base of {state.get('base_files') or 0:,} files"
    if state.get("delta"):
        text += f" + delta of {state.get('delta_files') or 0:,} changed since ({state.get('removed') or 0:,} removed)"
    vectors = state.get("vectors") or []
    if vectors:
        text += "; chunk vectors: " + ", ".join(
            f"{v['rows']:,} of {v['model']} ({human_bytes(v['bytes'])} on disk)" for v in vectors)
    return text


def _memory_rows(memory: dict[str, Any]) -> list[tuple[str, str]]:
    """``exocortex status`` rows for the process's memory: the governor, then each cache's levels."""
    gov = memory["governor"]
    th = gov["thresholds"]
    rows = [(
        "memory (this process)",
        f"RSS {human_bytes(gov['rss'])} of a {human_bytes(gov['budget'])} budget ({gov['fraction']:.0%}), "
        f"level {gov['level']} (frees above {th['act']:.0%}, down to {th['target']:.0%}), "
        f"{gov['actions']} actions in {gov['checks']} checks",
    )]
    for name, cache in memory["caches"].items():
        if cache is None:
            rows.append((f"cache {name}", "off"))
            continue
        levels = ", ".join(
            f"{level} {lv['entries']:,}/{lv['max_entries'] or '∞'} entries "
            f"{human_bytes(lv['bytes'])}/{human_bytes(lv['max_bytes']) if lv['max_bytes'] else '∞'} ({lv['policy']})"
            for level, lv in cache["levels"].items()
        )
        rows.append((f"cache {name}", f"{levels}; {cache['requests']:,} requests, hit ratio {cache['hit_ratio']:.0%}"))
    tiers = memory.get("vector_tiers")
    if tiers is None:
        rows.append(("vector tiers", "none loaded in this process (a semantic search loads them)"))
    else:
        held = [f"{tier} {tiers[tier]['rows']:,} rows {human_bytes(tiers[tier]['bytes'])}"
                for tier in ("hot", "warm", "cold")]
        rows.append(("vector tiers", ", ".join(held) + f" ({', '.join(tiers['device'])})"))
    return rows



def _print_tree(index: Any, depth: int | None, as_json: bool, as_jsonl: bool) -> None:
    """``status --tree``: one row per directory, indented under its parent, or JSON."""
    rows = index.tree(depth=depth)
    if as_jsonl:
        print_jsonl(rows)
        return
    counted = index.config.index_tokenizers
    tokenizer = index.config.tokenizer if index.config.tokenizer in counted else counted[0]
    if as_json:
        print_json({"root": str(index.root), "tokenizer": tokenizer, "directories": rows})
        return
    lines = [f"{'files':>9} {'tokens':>13} {'bytes':>10}  directory ({tokenizer})\n"]
    for row in rows:
        name = row["directory"] if row["depth"] <= 1 else row["directory"].rsplit("/", 1)[-1]
        lines.append(f"{row['files']:>9,} {row['tokens']:>13,} {human_bytes(row['bytes']):>10}  "
                     f"{'  ' * row['depth']}{printable(name)}\n")
    sys.stdout.write("".join(lines))
