"""The ``exocortex`` command: parse arguments, call the API, render. No logic of its own."""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

# Imported before the start-up signal handlers below: a handler must not import while the
# program may be in the middle of an import.
from exocortex.errors import INTERRUPTED_EXIT_CODE, TERMINATED_EXIT_CODE


def _leave(code: int, line: str = "") -> None:
    """End the process at once with ``code``: what was written is flushed first, then ``line`` on stderr."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):  # a closed pipe (`| head`) is not an error of ours
            stream.flush()
    if line:
        os.write(2, line.encode() + b"\n")
    os._exit(code)


def _signal_code(signum: int) -> int:
    return INTERRUPTED_EXIT_CODE if signum == signal.SIGINT else TERMINATED_EXIT_CODE


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C (or SIGTERM) before ``main`` runs: nothing has started, so say so and leave at once."""
    _leave(_signal_code(signum), "exocortex: interrupted while starting; nothing was changed")


def _interrupted_while_finishing(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C (or SIGTERM) after the command has ended, while the process exits."""
    _leave(_signal_code(signum), "exocortex: interrupted while exiting; what was committed before is intact")


# The ``exocortex`` program (or ``python -m exocortex.cli``) spends its first few hundred ms importing;
# a Ctrl-C then would print Python's traceback. ``main`` puts the run's own handlers in place.
_STARTING_AS_PROGRAM = __name__ == "__main__" or os.path.basename(sys.argv[0] if sys.argv else "") == "exocortex"
if _STARTING_AS_PROGRAM and threading.current_thread() is threading.main_thread():
    for _signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(_signum) in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(_signum, _interrupted_while_starting)

import typer  # noqa: E402
from typer.exceptions import TyperException  # noqa: E402

from exocortex import __version__  # noqa: E402
from exocortex.cli_output import (  # noqa: E402
    DebugOpt,
    JsonOpt,
    cell,
    configure_logging,
    err,
    json_text,
    out,
    print_json,
    printable,
)
from exocortex.errors import (  # noqa: E402
    EXIT_CODES,
    ConfigError,
    ExocortexError,
    InputPathError,
    NoMatchesError,
    NothingToIndexError,
    UsageError,
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


def _store_option(store: str | None) -> str | None:
    """``--store`` as given; an empty one is refused rather than read as "the default store"."""
    if store is not None and not store.strip():
        raise InputPathError("--store is empty: pass the store directory, or leave --store out for PATH/.exocortex")
    return store


def _flag(flag: str, name: str, value: Any) -> Any:
    """A flag's value for the setting ``name``, refused (exit 7) when out of the setting's range."""
    if value is None:
        return None
    from exocortex.config import check_setting

    check_setting(name, value, origin=flag)
    return value


def _print_skipped(skipped_files: list[Any]) -> None:
    for s in skipped_files:
        out.print(f"  skip {s.reason:<11} {printable(s.path)}  {printable(s.detail)}", highlight=False, markup=False)


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
    settings: dict[str, Any] = {"workers": _flag("--workers", "workers", workers),
                                "lock_wait_s": _flag("--wait", "lock_wait_s", wait)}
    if max_file_size is not None:
        settings["max_file_bytes"] = _flag("--max-file-size", "max_file_bytes", parse_size(max_file_size))
    index = Index.open(path, store=_store_option(store), **settings)

    if dry_run:
        plan = index.dry_run()
        if as_json:
            print_json(plan.to_dict(with_skipped_files=verbose))
            return
        from rich.table import Table

        table = Table(title=cell(f"dry run: {plan.root} (nothing written)"))
        for col in ("directory", "files", "bytes", "est. tokens"):
            table.add_column(col, justify="left" if col == "directory" else "right")
        for d in plan.directories:
            table.add_row(cell(d.directory), f"{d.files:,}", _human_bytes(d.bytes), f"{d.est_tokens:,}")
        table.add_row("total", f"{plan.files:,}", _human_bytes(plan.bytes), f"{plan.est_tokens:,}", style="bold")
        out.print(table)
        out.print(f"skipped: {_skipped_table(plan.skipped)}", highlight=False, markup=False)
        if verbose:
            _print_skipped(plan.skipped_files)
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
            f"indexed {printable(report.root)}: {report.files:,} files, {report.chunks:,} chunks, "
            f"{report.tokens:,} tokens, {_human_bytes(report.bytes)}",
            highlight=False,
            markup=False,
        )
        out.print(
            f"this run: {report.processed:,} processed ({report.added:,} new, {report.changed:,} changed), "
            f"{report.unchanged + report.touched:,} unchanged, {report.removed:,} removed, "
            f"{_human_bytes(report.bytes_read)} read in {report.seconds:.2f} s",
            highlight=False,
        )
        out.print(f"skipped: {_skipped_table(report.skipped)}", highlight=False, markup=False)
        if verbose:
            _print_skipped(report.skipped_files)
        out.print(f"store: {printable(report.store)}", highlight=False, markup=False)
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
    index = Index.find(path, store=_store_option(store))
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
        table.add_row(key, cell(value))
    out.print(table)
    if verbose:
        out.print(f"files chunked by line windows ({len(unstructured)}):", highlight=False, markup=False)
        for row in unstructured:
            out.print(f"  {printable(row['path'])}  ({row['language'] or 'text'})", highlight=False, markup=False)


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
    k: Annotated[int, typer.Option("-k", min=1, help="How many results (at least 1).")] = 20,
    path: PathOpt = ".",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Rank the indexed chunks for QUERY."""
    from rich.table import Table

    from exocortex.api import Index

    configure_logging("debug" if debug else "warning")
    hits = Index.find(path, store=_store_option(store)).search(query, k)
    if not hits:
        raise NoMatchesError(f"nothing in the index matches {_shown_query(query)}")
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


def _shown_query(query: str, limit: int = 200) -> str:
    """The query for a one-line message: quoted, and cut when long."""
    return repr(query) if len(query) <= limit else repr(query[:limit]) + f"... ({len(query):,} characters)"


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
    if query_file is not None and query is not None:
        raise UsageError("pass QUERY or --query-file FILE, not both")
    if fmt not in ("markdown", "xml", "json"):
        raise ConfigError(f"unknown format {fmt!r} (choose markdown, xml or json)")
    target = _out_target(out_file) if out_file is not None else None
    index = Index.find(path, store=_store_option(store))
    if query_file is not None:
        query = _read_query_file(query_file, index.config.max_query_bytes)
    if not query:
        raise NoMatchesError("no query: pass QUERY or --query-file FILE")
    pack = index.pack(query, budget, tokenizer=tokenizer, format=fmt)
    rendered = json_text(pack.to_dict()) + "\n" if fmt == "json" else pack.text
    if target is not None:
        _write_atomically(target, rendered)
        err.print(f"wrote {pack.tokens:,} tokens ({pack.tokenizer}) to {printable(out_file)}",
                  highlight=False, markup=False)
    else:
        sys.stdout.write(rendered if rendered.endswith("\n") else rendered + "\n")


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


def _write_atomically(target: Path, text: str) -> None:
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
        _leave(self.report(note))

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
                signal.signal(number, _interrupted_while_finishing)
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
        if signal.getsignal(signum) is _interrupted_while_starting:  # started: the run's handlers from here
            signal.signal(signum, default)
    try:
        code = _run(args, debug, interrupts, program=argv is None)
    finally:
        if argv is not None:
            interrupts.stop_watching()
    if argv is None:
        _leave(code)
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


if __name__ == "__main__":
    sys.exit(main())
