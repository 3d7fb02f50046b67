"""The ``exocortex`` command: parse arguments, call the API, render. No logic of its own."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.exceptions import TyperException

from exocortex import __version__
from exocortex.cli_output import DebugOpt, JsonOpt, configure_logging, err, out, print_json
from exocortex.errors import (
    EXIT_CODES,
    ConfigError,
    ExocortexError,
    InputPathError,
    NoMatchesError,
    NothingToIndexError,
)

if TYPE_CHECKING:
    from exocortex.indexing.run import ProgressFn

# Start-up cost: every command pays for what this module imports, so the API (pyarrow, numpy, the
# store, the memory engine), rich's tables and progress bars, and the vcf commands' libraries
# (cyvcf2, lancedb, ladybug) are imported inside the commands that use them.
# tests/test_cli_startup.py checks that ``import exocortex.cli`` stays free of them.

app = typer.Typer(
    name="exocortex",
    help="A local-first context engine for AI agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Store directory (default: $EXOCORTEX_STORE or PATH/.exocortex)."),
]
def _version(value: bool) -> None:
    if value:
        out.print(f"exocortex {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """A local-first context engine for AI agents."""


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[ProgressFn | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("indexing"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("index", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _skipped_table(skipped: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in skipped.items()) or "none"


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
    debug: DebugOpt = False,
) -> None:
    """Index a directory: files, chunks, symbols and exact token counts, incrementally."""
    from exocortex.api import Index
    from exocortex.config import parse_size

    configure_logging("debug" if debug else "warning")
    settings: dict[str, Any] = {"workers": workers, "lock_wait_s": wait}
    if max_file_size is not None:
        settings["max_file_bytes"] = parse_size(max_file_size)
    index = Index.open(path, store=store, **settings)

    if dry_run:
        plan = index.dry_run()
        if as_json:
            print_json(plan.to_dict(with_skipped_files=verbose))
            return
        from rich.table import Table

        table = Table(title=f"dry run: {plan.root} (nothing written)")
        for col in ("directory", "files", "bytes", "est. tokens"):
            table.add_column(col, justify="left" if col == "directory" else "right")
        for d in plan.directories:
            table.add_row(d.directory, f"{d.files:,}", _human_bytes(d.bytes), f"{d.est_tokens:,}")
        table.add_row("total", f"{plan.files:,}", _human_bytes(plan.bytes), f"{plan.est_tokens:,}", style="bold")
        out.print(table)
        out.print(f"skipped: {_skipped_table(plan.skipped)}")
        if verbose:
            for s in plan.skipped_files:
                out.print(f"  skip {s.reason:<11} {s.path}  {s.detail}", highlight=False)
        if plan.existing_index:
            out.print(f"existing index: {plan.would_process:,} files to (re)process, {plan.would_remove:,} to remove")
        out.print(
            f"estimated indexing time: {plan.est_seconds:.1f} s on {index.config.effective_workers()} workers "
            f"(tokens estimated at {plan.tokens_per_byte:.3f} per byte from a sample)"
        )
        return

    with _progress_bar(err.is_terminal and not debug) as progress:
        report = index.update(rebuild=rebuild, progress=progress)
    if as_json:
        print_json(report.to_dict(with_skipped_files=verbose))
    else:
        out.print(
            f"indexed {report.root}: {report.files:,} files, {report.chunks:,} chunks, "
            f"{report.tokens:,} tokens, {_human_bytes(report.bytes)}",
            highlight=False,
        )
        out.print(
            f"this run: {report.processed:,} processed ({report.added:,} new, {report.changed:,} changed), "
            f"{report.unchanged + report.touched:,} unchanged, {report.removed:,} removed, "
            f"{_human_bytes(report.bytes_read)} read in {report.seconds:.2f} s",
            highlight=False,
        )
        out.print(f"skipped: {_skipped_table(report.skipped)}", highlight=False)
        if verbose:
            for s in report.skipped_files:
                out.print(f"  skip {s.reason:<11} {s.path}  {s.detail}", highlight=False)
        out.print(f"store: {report.store}", highlight=False)
    if report.files == 0:
        skipped = sum(report.skipped.values())
        raise NothingToIndexError(f"nothing to index in {report.root}: no indexable files ({skipped} skipped)")


@app.command("status")
def status_command(
    path: Annotated[str, typer.Argument(help="Indexed directory.")] = ".",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List files that were not chunked by structure.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Show what the index holds: files, chunks, tokens, languages, coverage, size, age, last run."""
    from rich.table import Table

    from exocortex.api import Index

    configure_logging("debug" if debug else "warning")
    index = Index.open(path, store=store)
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
    table = Table(show_header=False, title=f"exocortex index of {status.root}")
    table.add_column("field")
    table.add_column("value")
    last = status.last_run
    rows = [
        ("store", f"{status.store} ({_human_bytes(status.store_bytes)}, schema v{status.schema_version})"),
        ("files", f"{status.files:,} ({_human_bytes(status.bytes)})"),
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
        ("skipped", _skipped_table(last.get("skipped") or {})),
        *_memory_rows(memory),
    ]
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    if verbose:
        out.print(f"files chunked by line windows ({len(unstructured)}):")
        for row in unstructured:
            out.print(f"  {row['path']}  ({row['language'] or 'text'})", highlight=False)


def _memory_rows(memory: dict[str, Any]) -> list[tuple[str, str]]:
    """``exocortex status`` rows for the process's memory: the governor, then each cache's levels."""
    gov = memory["governor"]
    th = gov["thresholds"]
    rows = [(
        "memory (this process)",
        f"RSS {_human_bytes(gov['rss'])} of a {_human_bytes(gov['budget'])} budget ({gov['fraction']:.0%}), "
        f"level {gov['level']} (frees above {th['act']:.0%}, down to {th['target']:.0%}), "
        f"{gov['actions']} actions in {gov['checks']} checks",
    )]
    for name, cache in memory["caches"].items():
        if cache is None:
            rows.append((f"cache {name}", "off"))
            continue
        levels = ", ".join(
            f"{level} {lv['entries']:,}/{lv['max_entries'] or '∞'} entries "
            f"{_human_bytes(lv['bytes'])}/{_human_bytes(lv['max_bytes']) if lv['max_bytes'] else '∞'} ({lv['policy']})"
            for level, lv in cache["levels"].items()
        )
        rows.append((f"cache {name}", f"{levels}; {cache['requests']:,} requests, hit ratio {cache['hit_ratio']:.0%}"))
    tiers = memory.get("vector_tiers")
    rows.append(("vector tiers", "none (this index holds no embeddings)" if tiers is None else str(tiers)))
    return rows


PathOpt = Annotated[str, typer.Option("--path", "-C", help="The indexed directory (default: .).")]


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="What to look for: a question, identifiers, an error message.")],
    k: Annotated[int, typer.Option("-k", help="How many results.")] = 20,
    path: PathOpt = ".",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Rank the indexed chunks for QUERY."""
    from rich.table import Table

    from exocortex.api import Index

    configure_logging("debug" if debug else "warning")
    hits = Index.open(path, store=store).search(query, k)
    if not hits:
        raise NoMatchesError(f"nothing in the index matches {query!r}")
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
            }
        )
        return
    table = Table(title=f"search: {query}")
    for col in ("#", "score", "location", "symbol", "kind"):
        table.add_column(col, justify="right" if col in ("#", "score") else "left")
    for rank, h in enumerate(hits, 1):
        table.add_row(str(rank), f"{h.score:.4f}", f"{h.path}:{h.lines[0]}-{h.lines[1]}", h.symbol, h.kind)
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
    path: PathOpt = ".",
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Pack the context QUERY needs into a hard token budget."""
    from exocortex.api import Index

    configure_logging("debug" if debug else "warning")
    if query_file is not None:
        try:
            query = Path(query_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise InputPathError(f"cannot read the query file {query_file}: {exc.strerror}") from None
    if not query:
        raise NoMatchesError("no query: pass QUERY or --query-file FILE")
    if fmt not in ("markdown", "xml", "json"):
        raise ConfigError(f"unknown format {fmt!r} (choose markdown, xml or json)")
    pack = Index.open(path, store=store).pack(query, budget, tokenizer=tokenizer, format=fmt)
    rendered = json.dumps(pack.to_dict(), indent=2) + "\n" if fmt == "json" else pack.text
    if out_file is not None:
        Path(out_file).write_text(rendered, encoding="utf-8")
        err.print(f"wrote {pack.tokens:,} tokens ({pack.tokenizer}) to {out_file}", highlight=False)
    else:
        sys.stdout.write(rendered if rendered.endswith("\n") else rendered + "\n")


bench_app = typer.Typer(help="Measurements: replay a cache trace through the eviction policies.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

from exocortex.genomics import cli_commands  # noqa: E402,F401  (adds the vcf commands)
from exocortex.genomics.cli_app import vcf_app  # noqa: E402

app.add_typer(vcf_app, name="vcf")


@bench_app.command("cache")
def bench_cache_command(
    trace: Annotated[str, typer.Option("--trace", help="The trace file.")],
    size: Annotated[list[str], typer.Option("--size", metavar="N", help="Cache size: entries, or bytes for "
                                            "oracle-general traces (repeatable; 1000, 1_000 or 1e3).")],
    trace_format: Annotated[
        str | None, typer.Option("--format", help="lirs, arc, scarab or oracle-general (default: from the name).")
    ] = None,
    policy: Annotated[
        list[str] | None, typer.Option("--policy", help="LRU, FIFO, Random, LFU, ARC, S3-FIFO, W-TinyLFU, OPT "
                                                        "(repeatable; default all).")
    ] = None,
    limit: Annotated[str | None, typer.Option("--limit", metavar="N", help="Replay only the first N requests.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay TRACE through each policy at each size and print the hit ratios.

    Bounded: at most ``bench_max_requests`` requests are held (a longer trace is refused, exit 3,
    with a hint to pass ``--limit``) and the replays stop after ``bench_max_seconds`` (exit 7).
    Size-0 records of an oracle-general trace are skipped, as libCacheSim does, and counted.
    """
    import functools
    import math
    import time

    from rich.table import Table

    from exocortex.config import load_config
    from exocortex.memory.policies import POLICY_NAMES, make_policy
    from exocortex.memory.traces import FORMATS, ReplayTimeoutError, TraceError, guess_format, load_trace, replay

    largest = 2**63 - 1  # sizes and counts are 64-bit in every trace format and simulator

    def whole_number(flag: str, text: str) -> int:
        """A positive whole number from ``1000``, ``1_000`` or ``1e3``: exit 2 if not a number, 7 if out of range."""
        try:
            value = int(text.strip())
        except ValueError:
            try:
                number = float(text.strip())
            except ValueError:
                raise typer.BadParameter(f"{text!r} is not a number", param_hint=f"'{flag}'") from None
            if not (math.isfinite(number) and number.is_integer()):
                raise ConfigError(f"{flag} must be a whole number from 1 to {largest:,}, got {text!r}") from None
            value = int(number)
        if not 1 <= value <= largest:
            raise ConfigError(f"{flag} must be a whole number from 1 to {largest:,}, got {text!r}")
        return value

    sizes_wanted = [whole_number("--size", text) for text in size]
    wanted = whole_number("--limit", limit) if limit is not None else None
    policies = policy or list(POLICY_NAMES)
    for name in policies:
        if name not in POLICY_NAMES:
            raise ConfigError(f"unknown policy {name!r} (choose from {', '.join(POLICY_NAMES)})")
    if trace_format is not None and trace_format not in FORMATS:
        raise ConfigError(f"unknown trace format {trace_format!r} (choose from {', '.join(FORMATS)})")
    config = load_config()
    if not Path(trace).is_file():
        raise InputPathError(f"no trace file at {trace}")
    started_all = time.monotonic()
    try:
        fmt = trace_format or guess_format(trace)
        if wanted is not None and wanted > config.bench_max_requests:
            raise ConfigError(f"--limit {wanted:,} is more than the {config.bench_max_requests:,} requests that may "
                              "be held in memory (raise bench_max_requests, e.g. EXOCORTEX_BENCH_MAX_REQUESTS)")
        loaded = load_trace(trace, fmt, wanted, max_requests=config.bench_max_requests)
    except TraceError as exc:
        raise InputPathError(str(exc)) from None
    except OSError as exc:
        raise InputPathError(f"cannot read {trace}: {exc.strerror or exc}") from None
    keys, sizes = loaded.keys, loaded.sizes
    if not keys:
        skipped = f" ({loaded.skipped_zero_size:,} size-0 records skipped)" if loaded.skipped_zero_size else ""
        raise InputPathError(f"{trace}: no requests to replay{skipped}")
    deadline = started_all + config.bench_max_seconds if config.bench_max_seconds > 0 else None
    rows: list[dict[str, Any]] = []
    for n in sizes_wanted:
        max_entries, max_bytes = (None, n) if sizes is not None else (n, None)
        for name in policies:
            started = time.perf_counter()
            try:
                ratio = replay(functools.partial(make_policy, name, keys, max_entries, max_bytes), keys, sizes,
                               deadline=deadline)
            except ReplayTimeoutError as exc:
                raise ConfigError(
                    f"bench cache ran past bench_max_seconds={config.bench_max_seconds:g} ({name} at size {n:,}: "
                    f"{exc}): replay fewer requests (--limit), sizes or policies, or raise "
                    "EXOCORTEX_BENCH_MAX_SECONDS"
                ) from None
            rows.append({"size": n, "unit": "bytes" if sizes is not None else "entries", "policy": name,
                         "hit_ratio": ratio, "seconds": round(time.perf_counter() - started, 3)})
    if as_json:
        print_json({"trace": trace, "format": fmt, "requests": len(keys),
                    "skipped_zero_size": loaded.skipped_zero_size, "results": rows})
        return
    skipped_note = f", {loaded.skipped_zero_size:,} size-0 skipped" if loaded.skipped_zero_size else ""
    table = Table(title=f"{Path(trace).name}: {len(keys):,} requests ({fmt}{skipped_note})")
    for col in ("size", "policy", "hit %", "seconds"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for row in rows:
        table.add_row(f"{row['size']:,}", row["policy"], f"{100 * row['hit_ratio']:.2f}", f"{row['seconds']:.1f}")
    out.print(table)


@app.command("exit-codes")
def exit_codes_command() -> None:
    """List the exit codes and what they mean."""
    for code, meaning in EXIT_CODES.items():
        out.print(f"{code:>3}  {meaning}", highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning errors into one line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("EXOCORTEX_DEBUG"))
    try:
        app(args=args, prog_name="exocortex", standalone_mode=False)
        return 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except TyperException as exc:  # usage errors: bad options, missing arguments
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"exocortex: usage error: {exc.format_message()}", highlight=False, markup=False)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        err.print("exocortex: interrupted; the last committed index is intact", highlight=False)
        return 130
    except ExocortexError as exc:
        if debug:
            traceback.print_exc()
        err.print(f"exocortex: error: {exc.message}", highlight=False, markup=False)
        return exc.exit_code
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
        if debug:
            traceback.print_exc()
        err.print(
            f"exocortex: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            highlight=False,
            markup=False,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
