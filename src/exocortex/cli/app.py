"""The ``exocortex`` command and its groups, and what the commands share (options, small renderers).

Each module of this package adds its commands to ``app`` (or to a group of it) when
``exocortex.cli`` imports it; every command parses its arguments, makes one call into the
Python API and renders the answer. Nothing here decides anything the API does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from exocortex import __version__
from exocortex.cli.output import err, out, printable
from exocortex.errors import EXIT_CODES, InputPathError

if TYPE_CHECKING:
    from exocortex.api import Index
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


def found_index(path: str, store: str | None, *, debug: bool, as_json: bool = False, as_jsonl: bool = False
                ) -> Index:
    """The index a command answers from (its own, or the nearest enclosing one), after the setup every
    such command makes: logging (debug with ``--debug``) and refusing ``--json`` with ``--jsonl``."""
    from exocortex.api import Index
    from exocortex.cli.output import configure_logging, json_mode

    configure_logging("debug" if debug else "warning")
    json_mode(as_json, as_jsonl)
    return Index.find(path, store=store_option(store))


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressFn | None]:
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


def skipped_table(skipped: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in skipped.items()) or "none"


def store_option(store: str | None) -> str | None:
    """``--store`` as given; an empty one is refused rather than read as "the default store"."""
    if store is not None and not store.strip():
        raise InputPathError("--store is empty: pass the store directory, or leave --store out for PATH/.exocortex")
    return store


def flag(flag: str, name: str, value: Any) -> Any:
    """A flag's value for the setting ``name``, refused (exit 7) when out of the setting's range."""
    if value is None:
        return None
    from exocortex.config import check_setting

    check_setting(name, value, origin=flag)
    return value


def print_skipped(skipped_files: list[Any]) -> None:
    for s in skipped_files:
        out.print(f"  skip {s.reason:<11} {printable(s.path)}  {printable(s.detail)}", highlight=False, markup=False)


PathOpt = Annotated[str, typer.Option("--path", "-C", help="The indexed directory (default: .).")]

bench_app = typer.Typer(help="Measurements: replay a cache trace through the eviction policies.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

vcf_app = typer.Typer(
    help="Variant files: ingest VCF/BCF into the store, query, stats, similar variants, graph, validate.",
    no_args_is_help=True,
)
app.add_typer(vcf_app, name="vcf")


@app.command("exit-codes")
def exit_codes_command(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the table as Markdown.")] = False,
) -> None:
    """List the exit codes and what they mean."""
    from exocortex.errors import exit_codes_markdown

    if markdown:
        out.print(exit_codes_markdown(), end="", highlight=False, markup=False)
        return
    for code, meaning in EXIT_CODES.items():
        out.print(f"{code:>3}  {meaning}", highlight=False, markup=False)
