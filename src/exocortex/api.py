"""The Python API: ``Index.open(path).update()``; the CLI is a thin layer over it."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exocortex.config import STORE_DIRNAME, TOKENIZERS, Config, load_config
from exocortex.errors import ConfigError, InputPathError
from exocortex.indexing.run import IndexReport, ProgressFn, run_index
from exocortex.store.meta import is_store, read_meta, store_size_bytes
from exocortex.store.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from exocortex.indexing.dryrun import DryRunReport
    from exocortex.pack import Pack
    from exocortex.search.hits import SearchHit


@dataclass(frozen=True)
class IndexStatus:
    """What an index holds, how big it is, and how its last run went."""

    root: str
    store: str
    schema_version: int
    files: int
    chunks: int
    tokens: int
    tokenizer: str
    bytes: int
    languages: dict[str, int]
    structural_files: int
    structural_coverage: float
    """Fraction of indexed files chunked by their structure (grammar or headings)."""
    store_bytes: int
    updated_at: float
    age_s: float
    last_run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_root(path: str | os.PathLike[str]) -> Path:
    """The absolute directory to index, or an ``InputPathError`` that says what is wrong."""
    text = os.fspath(path)
    if isinstance(text, bytes) or not text.strip():
        # Path("") is ".": an empty argument would quietly index the working directory.
        raise InputPathError(f"the path is empty ({text!r}): pass a directory, such as . for this one")
    if "\x00" in text:
        raise InputPathError(f"the path {text!r} holds a NUL character")
    raw = Path(text).expanduser()
    try:
        root = raw.resolve(strict=True)
    except FileNotFoundError:
        raise InputPathError(f"path not found: {raw}") from None
    except RuntimeError:  # symlink loop
        raise InputPathError(f"path is a symlink loop: {raw}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputPathError(f"path is a symlink loop: {raw}") from None
        raise InputPathError(f"cannot access {raw}: {exc.strerror}") from None
    if not root.is_dir():
        raise InputPathError(f"{raw} is a file, not a directory: index the directory that holds it")
    if not os.access(root, os.R_OK | os.X_OK):
        raise InputPathError(f"cannot read directory {raw}: permission denied")
    return root


def _check_query(query: str, max_bytes: int) -> None:
    """Refuse a query that is not text (exit 2), is empty (exit 12) or is longer than ``max_bytes`` UTF-8 bytes (2)."""
    from exocortex.errors import NoMatchesError, UsageError

    if not isinstance(query, str):
        raise UsageError(f"the query must be text (str), not {type(query).__name__}")
    if not query or not query.strip():
        raise NoMatchesError("the query is empty: say what the context is for")
    # A character takes at most 4 bytes: count them only when the length leaves a doubt.
    if len(query) * 4 > max_bytes and len(query.encode("utf-8", "surrogatepass")) > max_bytes:
        raise UsageError(f"the query is longer than max_query_bytes ({max_bytes:,} bytes): shorten it "
                         "or raise EXOCORTEX_MAX_QUERY_BYTES")


def shown_query(query: str, limit: int = 200) -> str:
    """The query for a one-line message: quoted, and cut when long."""
    return repr(query) if len(query) <= limit else repr(query[:limit]) + f"... ({len(query):,} characters)"


def _check_count(name: str, value: object) -> int:
    """``value`` as a whole number of at least 1 (a NumPy integer too), or ``UsageError`` (exit 2)."""
    import operator

    from exocortex.errors import UsageError

    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise UsageError(f"{name} must be a whole number, got {value!r}") from None
    if isinstance(value, bool) or number < 1:
        raise UsageError(f"{name} must be at least 1, got {value!r}")
    return number


def _pack_candidates(budget: int, minimum: int) -> int:
    """How many ranked chunks to ask for: enough to fill the budget (a chunk is ~100+ tokens)."""
    return max(minimum, budget // 50)


class Index:
    """An index of one directory tree, stored in an embedded Lance store.

    >>> index = Index.open(".")           # doctest: +SKIP
    >>> report = index.update()            # doctest: +SKIP
    >>> index.status().files               # doctest: +SKIP
    """

    def __init__(self, root: Path, store: Path, config: Config) -> None:
        self.root = root
        self.store = store
        self.config = config

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        store: str | os.PathLike[str] | None = None,
        **settings: Any,
    ) -> Index:
        """Open (without reading anything yet) the index of the directory ``path``.

        ``store`` defaults to ``$EXOCORTEX_STORE`` or ``<path>/.exocortex``;
        ``settings`` override fields of :class:`exocortex.config.Config`.
        """
        root = resolve_root(path)
        config = load_config(root, **settings)
        where = store if store is not None else config.store
        store_dir = Path(where).expanduser().absolute() if where else root / STORE_DIRNAME
        return cls(root, store_dir, config)

    @classmethod
    def find(
        cls,
        path: str | os.PathLike[str] = ".",
        store: str | os.PathLike[str] | None = None,
        **settings: Any,
    ) -> Index:
        """The index that holds ``path``: its own, or the nearest enclosing directory's, as git finds ``.git``.

        A search run from ``src/pkg`` of an indexed repository answers from the repository's
        index. A ``store`` given here, by ``$EXOCORTEX_STORE`` or by ``path``'s own configuration
        is used as :meth:`open` would; with no index anywhere above, the error names ``path``.
        """
        start = cls.open(path, store=store, **settings)
        if store is not None or start.config.store or is_store(start.store):
            return start
        for parent in start.root.parents:
            if is_store(parent / STORE_DIRNAME):
                return cls.open(parent, **settings)
        return start

    def update(self, *, rebuild: bool = False, progress: ProgressFn | None = None) -> IndexReport:
        """Bring the index up to date; only changed, added and removed files are processed."""
        return run_index(self.root, self.store, self.config, rebuild=rebuild, progress=progress)

    def dry_run(self) -> DryRunReport:
        """What ``update`` would index and skip, with estimated tokens and time; writes nothing."""
        from exocortex.indexing.dryrun import dry_run

        return dry_run(self.root, self.store, self.config)

    def status(self) -> IndexStatus:
        """Totals of the last committed run; raises ``IndexNotFoundError`` when there is none."""
        meta = read_meta(self.store)
        summary = meta.last_run.get("summary", {})
        files = int(summary.get("files", 0))
        structural = int(summary.get("structural_files", 0))
        return IndexStatus(
            root=meta.root,
            store=str(self.store),
            schema_version=SCHEMA_VERSION,
            files=files,
            chunks=int(summary.get("chunks", 0)),
            tokens=int(summary.get("tokens", 0)),
            tokenizer=str(summary.get("tokenizer", self.config.tokenizer)),
            bytes=int(summary.get("bytes", 0)),
            languages=dict(summary.get("languages", {})),
            structural_files=structural,
            structural_coverage=round(structural / files, 4) if files else 0.0,
            store_bytes=store_size_bytes(self.store),
            updated_at=meta.updated_at,
            age_s=round(time.time() - meta.updated_at, 1),
            last_run={
                k: meta.last_run.get(k)
                for k in ("seconds", "timings", "skipped", "processed", "added", "changed",
                          "removed", "unchanged", "touched", "reused", "bytes_read", "git")
            },
        )

    def search(self, query: str, k: int | None = None) -> list[SearchHit]:
        """Chunks ranked for ``query`` (BM25, structure graph and neighbours, fused), best first.

        Raises ``NoMatchesError`` when the query is empty or nothing in the index matches it.
        """
        from exocortex.errors import NoMatchesError
        from exocortex.search import search
        from exocortex.store.lance import StoreReader

        _check_query(query, self.config.max_query_bytes)
        k = self.config.search_k if k is None else _check_count("k", k)
        reader = StoreReader(self.store)
        hits = self._cached_search(reader, query, k, None, lambda: search(reader, query, k, self.config))
        if not hits:
            raise NoMatchesError(f"nothing in the index matches {shown_query(query)}")
        return hits

    def _cached_search(
        self, reader: Any, query: str, k: int, candidates: int | None, run: Callable[[], list[SearchHit]]
    ) -> list[SearchHit]:
        """``run()``'s hits, through this process's query cache (keyed by the store's version)."""
        from exocortex.memory.engine import engine_memory
        from exocortex.search.cache import cache_key

        key = (str(self.store), cache_key(reader), query, k, candidates, self.config)
        return engine_memory(self.config).search(key, run)

    def _variant_pack(self, query: str, budget: int, tokenizer: str, format: str) -> Pack | None:
        """The variant context when this store holds variants and the question names some (else None).

        A store with variants and no code index answers every question from the variants; a
        store with both gives the variants only to a question that names a gene, rsID, region
        or sample the variant store holds.
        """
        from exocortex.errors import NoMatchesError
        from exocortex.genomics.store import GENOMICS_DIR, MANIFEST
        from exocortex.store.meta import META_FILE

        if not (self.store / GENOMICS_DIR / MANIFEST).is_file():
            return None
        from exocortex.genomics.context import variant_pack

        if format != "markdown" and format != "json":
            raise ConfigError(f"a variant pack renders markdown (or json), not {format!r}")
        try:
            return variant_pack(self.store, query, budget, tokenizer)
        except NoMatchesError:
            if (self.store / META_FILE).is_file():
                return None  # not a variant question: the code index answers it
            raise

    def memory_stats(self) -> dict[str, Any]:
        """This process's engine caches (hits, misses, bytes per level) and memory governor."""
        from exocortex.memory.engine import engine_memory

        return engine_memory(self.config).stats()

    def pack(
        self,
        query: str,
        budget: int | str,
        tokenizer: str | None = None,
        format: str = "markdown",
    ) -> Pack:
        """The context ``query`` needs, rendered to fit ``budget`` tokens exactly.

        ``budget`` is a number of tokens or a string such as ``"8000"``, ``"128k"``, ``"1m"``.
        Raises ``NoMatchesError`` when nothing matches and ``BudgetTooSmallError`` when not
        even an outline fits.
        """
        from exocortex.pack import pack_context, parse_budget
        from exocortex.search import search
        from exocortex.store.lance import StoreReader

        _check_query(query, self.config.max_query_bytes)
        tokens = parse_budget(budget)
        if tokenizer is not None and tokenizer not in TOKENIZERS:
            raise ConfigError(f"unknown tokenizer {tokenizer!r} (choose from {', '.join(TOKENIZERS)})")
        name = tokenizer or self.config.tokenizer
        variants = self._variant_pack(query, tokens, name, format)
        if variants is not None:
            return variants
        reader = StoreReader(self.store)
        k = _pack_candidates(tokens, self.config.search_k)
        pool = self.config.pack_search_candidates
        hits = self._cached_search(reader, query, k, pool,
                                   lambda: search(reader, query, k, self.config, candidates=pool))
        return pack_context(query, hits, reader, budget=tokens, tokenizer=name, fmt=format,
                            snapshot_max_bytes=self.config.pack_snapshot_max_bytes,
                            count_memo_entries=self.config.pack_count_memo_entries,
                            whole_files=self.config.pack_whole_files,
                            whole_file_share=self.config.pack_whole_file_share)

    def unstructured_files(self) -> list[dict[str, Any]]:
        """Indexed files that were chunked by line windows rather than by their structure."""
        from exocortex.store.lance import StoreReader

        rows = StoreReader(self.store).read("files", ["path", "language", "structural", "skip_reason"])
        return [
            {"path": p, "language": lang}
            for p, lang, structural, skip in zip(
                *(rows.column(c).to_pylist() for c in ("path", "language", "structural", "skip_reason")),
                strict=True,
            )
            if skip is None and not structural
        ]

    def __repr__(self) -> str:
        return f"Index(root={str(self.root)!r}, store={str(self.store)!r})"
