"""One typed configuration for exocortex.

Precedence, lowest to highest: built-in defaults < ``[tool.exocortex]`` in the
indexed root's ``pyproject.toml`` < ``<root>/.exocortex.toml`` < ``EXOCORTEX_*``
environment variables < explicit overrides (command-line flags).

Every limit lives here with its unit in its name; no module keeps its own
literal thresholds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exocortex.errors import ConfigError

TOKENIZERS = ("o200k_base", "cl100k_base")
STORE_DIRNAME = ".exocortex"
INTERRUPT_CLEANUP_S = 10.0
"""After Ctrl-C or SIGTERM, a command that has not exited within this many seconds (its cleanup
stuck) exits at once; a second signal does so at once too. Not a per-index setting: it applies
before any configuration is read."""


@dataclass(frozen=True, slots=True)
class Config:
    # --- sources -----------------------------------------------------------
    max_file_bytes: int = 2 * 1024 * 1024
    """Files larger than this are skipped (reason ``too_large``) without being read."""
    binary_sniff_bytes: int = 8192
    """How many leading bytes are searched for a NUL byte to call a file binary."""
    use_default_ignores: bool = True
    """Outside a git work tree, skip VCS folders, node_modules, virtualenvs and build output."""
    extra_ignore_files: tuple[str, ...] = (".ignore", ".exocortexignore")
    """Per-directory ignore files honoured on top of ``.gitignore`` (gitignore syntax)."""

    # --- chunking ----------------------------------------------------------
    max_chunk_lines: int = 200
    """A definition longer than this is split into consecutive parts."""
    text_window_lines: int = 60
    """Line-window size for plain text and languages without a grammar."""
    markdown_max_section_lines: int = 200
    """A markdown section longer than this is split into line windows."""

    # --- tokens ------------------------------------------------------------
    tokenizer: str = "o200k_base"
    """Default tokenizer for counts and budgets."""
    index_tokenizers: tuple[str, ...] = ("o200k_base",)
    """Tokenizers whose exact counts are stored per chunk and skeleton at index time."""

    # --- indexing ----------------------------------------------------------
    workers: int = 0
    """Worker processes for parsing and counting; 0 means one per CPU core."""
    write_batch_bytes: int = 16 * 1024 * 1024
    """Source bytes buffered before rows are appended to the store."""
    worker_batch_files: int = 32
    """Files handed to a worker at a time."""
    inline_max_bytes: int = 2 * 1024 * 1024
    """Change sets smaller than this are processed in the main process: starting workers costs more."""
    index_checkpoint_s: float = 1.0
    """While an index is being built (no complete index exists yet), commit what is done every this
    many seconds: searches answer from it meanwhile, and a run that is killed resumes from it. 0: commit
    only at the end. A re-index of a complete index commits only at the end (readers keep the old one)."""
    lock_wait_s: float = 0.0
    """How long a second writer waits for the store lock before refusing."""
    estimate_mb_per_s: float = 3.0
    """Per-core throughput used by ``--dry-run`` to estimate indexing time (measured, see docs)."""

    # --- search (issue 3) -----------------------------------------------------
    search_k: int = 20
    """Default number of results of ``search``."""
    fusion_k: float = 60.0
    """The constant of reciprocal rank fusion: score = sum(weight / (fusion_k + rank))."""
    weight_bm25: float = 1.0
    """Fusion weight of lexical BM25 over chunks."""
    weight_skeleton: float = 0.5
    """Fusion weight of lexical BM25 over file skeletons (lifts every chunk of a matching file)."""
    weight_file: float = 0.5
    """Fusion weight of lexical BM25 over whole files (lifts every chunk of a matching file)."""
    weight_pagerank: float = 0.5
    """Fusion weight of personalized PageRank over the definition/reference graph."""
    weight_expand: float = 0.3
    """Fusion weight of the chunks of the best files of a first fusion (``expand_files`` of them)."""
    expand_files: int = 3
    """Best files of a first fusion whose every chunk becomes a candidate (0: none)."""
    weight_named: float = 0.5
    """Fusion weight of the files the query names (paths, dotted modules, traceback frames)."""
    weight_neighbor: float = 0.3
    """Fusion weight of graph neighbours (class, callers, callees) of matched definitions."""
    weight_semantic: float = 0.2
    """Fusion weight of the semantic signal: chunks by cosine similarity of static term embeddings
    to the query (:mod:`exocortex.search.semantic`; 0 with ``weight_semantic_file`` 0: off, and no
    vectors are made). Its chunks also become candidates, so a file no query word matches can
    still be found."""
    weight_semantic_file: float = 0.5
    """Fusion weight of the semantic signal at file level: candidates ranked by the similarity of
    their file's best chunk among the semantic signal's candidates."""
    semantic_min_similarity: float = 0.2
    """Chunks less similar than this (cosine) to the query are not semantic candidates: a query about
    nothing in the index (``zebra stripes`` in a web app) still matches nothing, instead of its
    nearest, unrelated chunks (0.02-0.12 on the tests' repositories, against 0.3-0.6 for a chunk
    that answers the question)."""
    semantic_query: str = "title"
    """Which part of the query makes its vector: ``title`` (its first line, or all of a one-line
    query) or ``all``. An issue's body (code, tracebacks) blurs a static embedding; chosen on the
    dev tasks (docs/benchmarks.md, retrieval settings)."""
    vector_hot_bytes: int = 512 * 1024 * 1024
    """Bytes of chunk vectors held exact (float32, in RAM or on the GPU) per base; the rest are held
    as int8 (about a quarter of the bytes). The governor demotes hot vectors under memory pressure.
    512 MiB holds the 470k chunks of the 50k-file benchmark tree: there, 256 MiB (the rest int8)
    took 1.9 s to load in each new process and 90 ms a query, against 0.8 s and 45 ms, for 150 MB
    less RSS (the int8 rows are rotated when added and widened back to float32 at every query;
    one-off timings, docs/benchmarks.md, pack latency)."""
    vector_device: str = "auto"
    """Where the hot vectors live: ``auto`` (the GPU when PyTorch sees one, else RAM), ``cpu`` or ``cuda``."""
    prior_tests: float = 0.5
    """Fused scores of chunks in test files are multiplied by this unless the query is about tests."""
    prior_docs: float = 0.7
    """... and of chunks in docs and examples (markdown, rst, doc/, examples/) unless it is about them."""
    query_title_weight: float = 2.0
    """Terms of a several-line query's first line (an issue's title) weigh this many times more."""
    search_candidates: int = 400
    """Candidates each signal contributes before fusion."""
    search_delta_max_share: float = 0.1
    """The search data of a commit is its base's plus a delta of the files changed since, while those
    are at most this share of the base's files (or ``search_delta_min_files``); beyond, a new base
    is built from every file. Either way the ranking is a full build's."""
    search_delta_min_files: int = 1000
    """See ``search_delta_max_share``."""
    pagerank_damping: float = 0.85
    """Damping of personalized PageRank."""
    bm25_k1: float = 1.2
    """BM25 term-frequency saturation."""
    bm25_b: float = 0.75
    """BM25 length normalization (0: none, 1: full)."""
    pagerank_seed_chunks: int = 50
    """Best lexical chunks whose files seed PageRank."""
    pagerank_seed_files: int = 20
    """Best skeleton (file-level) matches that also seed PageRank."""
    pagerank_steps: int = 4
    """Truncation of the walk: 4 steps is file -> name -> file -> name -> file."""
    pagerank_max_frontier: int = 20_000
    """Nodes whose mass is walked on at each step, the heaviest first (bounds a query's cost)."""
    pagerank_files: int = 50
    """Files reached by PageRank that may contribute chunks."""
    pagerank_names: int = 200
    """Names reached by PageRank whose definitions in those files become candidates."""
    neighbor_sources: int = 10
    """Best matched definitions whose neighbours (class, callers, callees) become candidates."""
    neighbors_per_source: int = 8
    """Callers and callees taken per matched definition."""

    pack_search_candidates: int = 1000
    """Candidates each signal contributes to the search behind a pack (``search_candidates``
    is for ``search``): wider lists bring more chunks of the best files."""
    pack_whole_files: int = 1
    """The first files a pack reaches (in rank order) are packed whole when they cost at most
    ``pack_whole_file_share`` of the budget (0: never)."""
    pack_whole_file_share: float = 0.2
    """See ``pack_whole_files``."""
    pack_snapshot_max_bytes: int = 1024 * 1024 * 1024
    """A process that packs the same commit again holds its chunk texts, skeletons and signatures
    in memory (Arrow) when they take at most this many bytes; 0 never holds them."""
    pack_count_memo_entries: int = 200_000
    """Exact token counts of rendered file blocks remembered by a process for later packs
    (about 150 bytes each); 0 remembers none."""

    # --- memory (issue 5) ----------------------------------------------------
    query_cache_l1_entries: int = 100
    """Search results a process keeps in its first cache level (0: no L1)."""
    query_cache_l1_bytes: int = 10 * 1024 * 1024
    """... and their bytes (estimated per hit)."""
    query_cache_l2_entries: int = 1000
    """Search results in the second level, which catches what L1 lets go (0: no L2)."""
    query_cache_l2_bytes: int = 100 * 1024 * 1024
    """... and their bytes."""
    answer_cache_max_bytes: int = 64 * 1024 * 1024
    """Search results and packs kept on disk under the store (``<store>/answers/``, the persistent L3),
    so a question repeated in a new process (a CLI call) is answered without searching again; the
    bytes of their serialized answers, for the store's current commit (0: no such cache)."""
    answer_cache_max_entries: int = 1000
    """... and at most this many answers (a process that writes one reads every entry's header first; 0: none)."""
    parsed_cache_bytes: int = 32 * 1024 * 1024
    """Analysed files an indexing process keeps by content hash, so identical files are parsed once."""
    variant_layout_cache_bytes: int = 64 * 1024 * 1024
    """The variant query planner's layouts and call counts a process keeps in memory (per table
    version; each is also on disk in the store); 0 keeps none."""
    memory_budget: str | None = None
    """The process's memory budget: bytes, a size (``4GiB``) or a share of RAM (``50%``); default half
    the RAM. The governor frees cached memory as the resident size nears it."""
    memory_level: str = "balanced"
    """How early the governor acts: ``conservative`` (above 90% of the budget), ``balanced`` (80%),
    ``aggressive`` (65%)."""
    bench_max_requests: int = 10_000_000
    """``bench cache`` holds at most this many trace requests in memory (about 100 bytes each with
    every policy's state); a longer trace is refused with a hint to replay a prefix (``--limit``)."""
    bench_max_seconds: float = 3600.0
    """``bench cache`` stops with an error once its replays have run this long (0: no limit)."""

    # --- genomics ------------------------------------------------------------
    graph_query_timeout_s: float = 60.0
    """Wall-clock limit of one ``vcf graph`` Cypher query (``--timeout``); past it the query is stopped."""
    graph_query_memory_bytes: int = 1024 * 1024 * 1024
    """Memory one ``vcf graph`` query may take: LadybugDB's buffer pool, and as much again outside it."""
    graph_max_rows: int = 1_000_000
    """The most rows ``vcf graph --max-rows`` may return (they are held in memory)."""

    # --- store -------------------------------------------------------------
    store: str | None = None
    """Store directory; default ``<root>/.exocortex``."""

    # --- queries -------------------------------------------------------------
    max_query_bytes: int = 1024 * 1024
    """A query (argument, ``--query-file`` or API call) longer than this many UTF-8 bytes is refused;
    ``--query-file`` reads at most this many bytes plus one."""

    # --- answers in an agent's loop ----------------------------------------------
    refresh_before_answer: bool = True
    """Every search, pack or lookup first brings the index up to date with the disk (a no-op walk
    when nothing changed, or nothing at all when a watcher says so); off answers from the last commit."""
    watch_debounce_ms: int = 200
    """``exocortex watch`` and the MCP server group file events arriving within this many ms into one update."""
    mcp_max_answer_tokens: int = 20_000
    """The most tokens one MCP tool result may hold (Claude Code refuses results over 25,000)."""

    def effective_workers(self) -> int:
        return self.workers if self.workers > 0 else max(1, os.cpu_count() or 1)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` (None leaves a field as it is), checked like a loaded configuration."""
        config = dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        validate(config)
        return config


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def settings_fingerprint(config: Config) -> str:
    """A digest of every setting of ``config``, the same in every process (never Python's salted
    ``hash()``): what names the settings in keys kept on disk, such as the store's answers."""
    values = {name: getattr(config, name) for name in _FIELDS}
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _coerce(name: str, value: Any, origin: str) -> Any:
    """Convert a value from TOML or the environment to the field's type."""
    default = _FIELDS[name].default
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise TypeError(value)
            return int(value)
        if isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError(value)
            return float(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(str(v) for v in value)
        if value in (None, ""):
            if default is not None:  # a setting with a value by default: empty is a mistake, not "unset"
                raise ValueError(value)
            return None
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: invalid value {value!r} for '{name}'") from exc


def _from_mapping(data: dict[str, Any], origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"{origin}: unknown setting '{key}'")
        out[name] = _coerce(name, value, origin)
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except OSError:
        return {}


def load_config(root: Path | None = None, **overrides: Any) -> Config:
    """Build the configuration for an index rooted at ``root``."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if root is not None:
        pyproject = root / "pyproject.toml"
        if pyproject.is_file():
            tool = _read_toml(pyproject).get("tool", {})
            section = tool.get("exocortex", {}) if isinstance(tool, dict) else {}
            if not isinstance(section, dict):
                raise ConfigError(f"{pyproject}: tool.exocortex must be a table ([tool.exocortex]), "
                                  f"not {type(section).__name__}")
            found = _from_mapping(section, str(pyproject))
            values.update(found)
            origins.update(dict.fromkeys(found, str(pyproject)))
        own = root / ".exocortex.toml"
        if own.is_file():
            found = _from_mapping(_read_toml(own), str(own))
            values.update(found)
            origins.update(dict.fromkeys(found, str(own)))
    for name in _FIELDS:
        variable = f"EXOCORTEX_{name.upper()}"
        env = os.environ.get(variable)
        if env is not None:
            values[name] = _coerce(name, env, variable)
            origins[name] = variable
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in _FIELDS:
            raise ConfigError(f"unknown setting '{name}'")
        values[name] = value
        origins.pop(name, None)
    config = Config(**values)
    validate(config, origins)
    return config


_INT_MAX = 2**63 - 1
"""Counts and sizes fit a signed 64-bit integer (Arrow and NumPy columns)."""
_FILE_MAX = 1024**3
"""The largest ``max_file_bytes``: a file is read whole (a buffer of max_file_bytes + 1 is asked for),
then chunked and counted; a bound of 100 GiB was a MemoryError, not a setting."""
_WEIGHT_MAX = 1e6
"""Weights, priors and multipliers are relative; this bound keeps sums of them finite."""


@dataclass(frozen=True, slots=True)
class _Range:
    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def refusal(self, value: float) -> str:
        """Why ``value`` is out of this range, for a message."""
        if self.high < 1e6:  # a narrow range: say both ends
            exclusive = " (exclusive)" if self.low_open and self.high_open else ""
            return f"must be between {_number(self.low)} and {_number(self.high)}{exclusive}"
        if value > self.high or (self.high_open and value == self.high):
            return f"must be at most {_number(self.high)}"
        if self.low == 0:
            return "must be positive" if self.low_open else "must not be negative"
        return f"must be at least {_number(self.low)}"


def _number(value: float) -> str:
    if not float(value).is_integer():
        return f"{value:g}"
    return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))


_COUNT = _Range(0, _INT_MAX)
_AT_LEAST_ONE = _Range(1, _INT_MAX)
_WEIGHT = _Range(0, _WEIGHT_MAX)
_SHARE = _Range(0, 1)

RANGES: dict[str, _Range] = {
    "max_file_bytes": _Range(1, _FILE_MAX),
    "binary_sniff_bytes": _AT_LEAST_ONE,
    "max_chunk_lines": _AT_LEAST_ONE,
    "text_window_lines": _AT_LEAST_ONE,
    "markdown_max_section_lines": _AT_LEAST_ONE,
    "workers": _Range(0, 1024),
    "write_batch_bytes": _AT_LEAST_ONE,
    "worker_batch_files": _AT_LEAST_ONE,
    "inline_max_bytes": _COUNT,
    "lock_wait_s": _Range(0, 1e6),
    "index_checkpoint_s": _Range(0, 1e6),
    "estimate_mb_per_s": _Range(0, 1e6, low_open=True),
    "search_k": _AT_LEAST_ONE,
    "fusion_k": _Range(0, _WEIGHT_MAX, low_open=True),
    "weight_bm25": _WEIGHT,
    "weight_skeleton": _WEIGHT,
    "weight_file": _WEIGHT,
    "weight_pagerank": _WEIGHT,
    "weight_expand": _WEIGHT,
    "expand_files": _COUNT,
    "weight_named": _WEIGHT,
    "weight_neighbor": _WEIGHT,
    "weight_semantic": _WEIGHT,
    "weight_semantic_file": _WEIGHT,
    "vector_hot_bytes": _COUNT,
    "semantic_min_similarity": _Range(-1, 1),
    "prior_tests": _WEIGHT,
    "prior_docs": _WEIGHT,
    "query_title_weight": _WEIGHT,
    "search_candidates": _AT_LEAST_ONE,
    "search_delta_max_share": _SHARE,
    "search_delta_min_files": _COUNT,
    "pagerank_damping": _Range(0, 1, low_open=True, high_open=True),
    "bm25_k1": _Range(0, 1000),
    "bm25_b": _SHARE,
    "pagerank_seed_chunks": _COUNT,
    "pagerank_seed_files": _COUNT,
    "pagerank_steps": _Range(0, 100),
    "pagerank_max_frontier": _AT_LEAST_ONE,
    "pagerank_files": _COUNT,
    "pagerank_names": _COUNT,
    "neighbor_sources": _COUNT,
    "neighbors_per_source": _COUNT,
    "pack_search_candidates": _AT_LEAST_ONE,
    "pack_whole_files": _COUNT,
    "pack_whole_file_share": _SHARE,
    "pack_snapshot_max_bytes": _COUNT,
    "pack_count_memo_entries": _COUNT,
    "query_cache_l1_entries": _COUNT,
    "query_cache_l1_bytes": _COUNT,
    "query_cache_l2_entries": _COUNT,
    "query_cache_l2_bytes": _COUNT,
    "answer_cache_max_bytes": _COUNT,
    "answer_cache_max_entries": _COUNT,
    "parsed_cache_bytes": _COUNT,
    "variant_layout_cache_bytes": _COUNT,
    "bench_max_requests": _AT_LEAST_ONE,
    "bench_max_seconds": _Range(0, 1e9),
    "max_query_bytes": _AT_LEAST_ONE,
    "graph_query_timeout_s": _Range(0, 86_400, low_open=True),
    "graph_query_memory_bytes": _Range(64 * 1024 * 1024, 1 << 40),
    "graph_max_rows": _Range(0, 100_000_000),
    "watch_debounce_ms": _Range(1, 60_000),
    "mcp_max_answer_tokens": _Range(100, 10_000_000),
}
"""The allowed range of every numeric setting (a test checks that each int and float field has one)."""


def check_setting(name: str, value: Any, origin: str | None = None) -> None:
    """Refuse (``ConfigError``) a value of the numeric setting ``name`` that is not a finite number in its range."""
    where = f"{origin}: " if origin else ""
    default = _FIELDS[name].default
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise ConfigError(f"{where}{name} must be {kind}, got {value!r}")
    if isinstance(default, int) and not isinstance(value, int):
        raise ConfigError(f"{where}{name} must be a whole number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}{name} must be a finite number, got {value!r}")
    allowed = RANGES[name]
    if not allowed.holds(value):
        raise ConfigError(f"{where}{name} {allowed.refusal(value)}, got {value!r}")


def validate(config: Config, origins: dict[str, str] | None = None) -> None:
    """Refuse a configuration with an unknown name or a value out of its range (``ConfigError``, exit 7).

    ``origins`` names where a setting came from (a file, an environment variable) for the message.
    """
    origins = origins or {}
    if config.tokenizer not in TOKENIZERS:
        raise ConfigError(f"unknown tokenizer '{config.tokenizer}' (choose from {', '.join(TOKENIZERS)})")
    if not config.index_tokenizers:
        raise ConfigError(f"index_tokenizers is empty: name at least one of {', '.join(TOKENIZERS)}")
    for name in config.index_tokenizers:
        if name not in TOKENIZERS:
            raise ConfigError(f"unknown tokenizer '{name}' in index_tokenizers")
    for name in config.extra_ignore_files:
        if not name or name in (".", "..") or "/" in name or "\x00" in name:
            raise ConfigError(f"extra_ignore_files: {name!r} is not a file name")
    for name in RANGES:
        check_setting(name, getattr(config, name), origins.get(name))
    _validate_memory(config)


MEMORY_LEVELS = ("conservative", "balanced", "aggressive")
"""The governor's levels (``memory.governor.LEVELS`` holds their thresholds), least eager to free first."""


VECTOR_DEVICES = ("auto", "cpu", "cuda")
SEMANTIC_QUERIES = ("title", "all")


def _validate_memory(config: Config) -> None:
    if config.semantic_query not in SEMANTIC_QUERIES:
        choices = ", ".join(SEMANTIC_QUERIES)
        raise ConfigError(f"unknown semantic_query '{config.semantic_query}' (choose from {choices})")
    if config.vector_device not in VECTOR_DEVICES:
        raise ConfigError(f"unknown vector_device '{config.vector_device}' (choose from {', '.join(VECTOR_DEVICES)})")
    if config.memory_level not in MEMORY_LEVELS:
        raise ConfigError(f"unknown memory_level '{config.memory_level}' (choose from {', '.join(MEMORY_LEVELS)})")
    if config.memory_budget is not None:
        parse_budget_spec(config.memory_budget, "memory_budget")


# -- memory budgets (the governor resolves a share against the machine's RAM) ------------------------------

_BUDGET_NUMBER = re.compile(r"^\s*([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?\s*([a-z%]*)\s*$", re.IGNORECASE)
# The units of ``config.parse_size`` (bare k/m/g are binary, kb/mb/gb decimal), with terabytes added.
_BUDGET_UNITS = {
    "b": 1,
    "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
}


def parse_budget_spec(text: str, what: str) -> int | float:
    """Bytes (int) or a fraction of the total (float in (0, 1]); raises ConfigError on bad text."""
    hint = "bytes, a size such as 4GiB, 512MB or 2G, or a share of the total such as 50% or 0.5"
    m = _BUDGET_NUMBER.match(text)
    if not m:
        raise ConfigError(f"{what}: not a memory budget: {text!r} (use {hint})")
    sign, mantissa, exponent, unit = m.group(1), m.group(2), m.group(3), m.group(4).lower()
    try:
        value = float(mantissa) * 10.0 ** int(exponent or 0)
    except OverflowError:
        value = math.inf
    if sign == "-" or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{what}: the memory budget must be a positive finite amount, got {text!r}")
    if unit == "%":
        if value > 100:
            raise ConfigError(f"{what}: a share of memory must be at most 100%, got {text!r}")
        return value / 100
    if not unit:
        if value <= 1:
            return value
        if value != int(value):
            raise ConfigError(f"{what}: a budget in bytes must be a whole number, got {text!r} (use {hint})")
        return int(value)
    if unit not in _BUDGET_UNITS:
        raise ConfigError(f"{what}: unknown unit {m.group(4)!r} in {text!r} (use {hint})")
    nbytes = int(value * _BUDGET_UNITS[unit])
    if nbytes <= 0:
        raise ConfigError(f"{what}: the memory budget must be at least one byte, got {text!r}")
    return nbytes


def parse_size(text: str) -> int:
    """Parse a byte size such as ``2MiB``, ``512k`` or ``1048576``."""
    s = text.strip().lower().replace(" ", "")
    units = {
        "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
        "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
        "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "b": 1,
    }
    number, factor = s, 1
    for suffix, multiplier in units.items():
        if s.endswith(suffix):
            number, factor = s[: -len(suffix)], multiplier
            break
    value: int | float
    try:
        value = int(number)  # exact, however large
    except ValueError:
        try:
            value = float(number)
        except ValueError as exc:
            raise ConfigError(f"not a size: {text!r} (try 2MiB, 512k or 1048576)") from exc
    if not math.isfinite(value):
        raise ConfigError(f"not a size: {text!r} (a size is a finite number of bytes, such as 2MiB)")
    if value <= 0:
        raise ConfigError(f"size must be positive: {text!r}")
    size = value * factor
    if size < 1:
        raise ConfigError(f"size must be at least 1 byte: {text!r}")
    if size > _INT_MAX:
        raise ConfigError(f"size too large: {text!r} (at most {_INT_MAX:,} bytes)")
    return int(size)


__all__ = ["Config", "RANGES", "TOKENIZERS", "STORE_DIRNAME", "check_setting", "load_config", "parse_size",
           "settings_fingerprint"]
