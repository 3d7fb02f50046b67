"""``exocortex bench cache``: replay a cache trace through the eviction policies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from exocortex.cli.app import bench_app
from exocortex.cli.output import out, print_json
from exocortex.errors import ConfigError, InputPathError


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
