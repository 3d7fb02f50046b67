"""The Python API: ``Index.open(path).update()``; the CLI is a thin layer over it."""

from __future__ import annotations

import errno
import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exocortex.config import STORE_DIRNAME, TOKENIZERS, Config, load_config
from exocortex.errors import ConfigError, InputPathError
from exocortex.indexing.plan import index_is_current
from exocortex.indexing.watch import ask_watch_process
from exocortex.store.meta import is_store, read_meta, store_size_bytes
from exocortex.store.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from exocortex.indexing.dryrun import DryRunReport
    from exocortex.indexing.run import IndexReport, ProgressFn
    from exocortex.indexing.watch import ChangeWatcher
    from exocortex.memory.answers import AnswerCache
    from exocortex.pack import Pack
    from exocortex.search.hits import SearchHit
    from exocortex.search.repomap import RepoMap
    from exocortex.store.meta import StoreMeta


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
    search_data: dict[str, Any] = field(default_factory=dict)
    """Whether the commit's search data is built (else the next search builds it) and of which
    segments: a base of every file and a delta of the files changed since."""
    building: dict[str, int] | None = None
    """When the index is still being built (a first run is in progress, or was killed: the next
    ``index`` resumes it), the files its last checkpoint holds of those planned
    (``files_done``, ``files_planned``); None for a complete index."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Freshness:
    """How current the index behind an answer is: every answer carries this as ``index``.

    ``checked`` says how the answer knows: ``"scan"`` (the tree was walked and compared with the
    index just now), ``"watcher"`` (a file watcher saw every change made before the question),
    ``"watch process"`` (a running ``exocortex watch`` confirmed it, having seen every change made
    before the question), ``"off"`` (``refresh_before_answer`` is off: the last commit, as it is), ``"read-only"``
    (the store cannot be written by this user: the last commit), ``"failed"`` (the update failed,
    ``error`` says why: the last commit) or ``"busy"``
    (another process was writing the index for longer than the answer waits; the last commit).
    """

    root: str
    updated_at: float
    """When the index last committed or was confirmed current (seconds since the epoch)."""
    age_s: float
    changed_files: int
    """Files added, changed or removed by the update this answer made first (0: it was current)."""
    changed_paths: tuple[str, ...]
    """Those files' root-relative paths (the first 1,000)."""
    checked: str
    refresh_s: float
    """Seconds this answer spent making sure the index was current."""
    error: str | None = None
    """Why the index could not be brought up to date (``checked="failed"``): the answer is from the last commit."""
    building: dict[str, int] | None = None
    """The answer is from a checkpoint of an index still being built (see ``IndexStatus.building``): files
    not yet indexed are missing from it."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed_paths"] = list(self.changed_paths)
        return data


REFRESH_LOCK_WAIT_S = 5.0
"""How long an answer waits for another writer (``exocortex watch``, an ``index`` run) before it
answers from the last commit and says so (``checked="busy"``)."""


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


def _check_tokenizer(tokenizer: str | None) -> None:
    """Refuse a tokenizer this project cannot count with (``ConfigError``, exit 7); None means the configured one."""
    if tokenizer is not None and tokenizer not in TOKENIZERS:
        raise ConfigError(f"unknown tokenizer {tokenizer!r} (choose from {', '.join(TOKENIZERS)})")


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


def _building(meta: StoreMeta) -> dict[str, int] | None:
    """A checkpoint's progress (files done, planned), or None for a complete index."""
    mark = meta.last_run.get("checkpoint")
    if not isinstance(mark, dict):
        return None
    return {"files_done": int(mark.get("files_done", 0)), "files_planned": int(mark.get("files_planned", 0))}


def _no_index(index: Index) -> Exception:
    """The error for an answer asked of a store that holds no index (what ``read_meta`` raises)."""
    try:
        read_meta(index.store)
    except Exception as exc:  # noqa: BLE001  (the store's own error: not found, corrupt, other schema)
        return exc
    from exocortex.errors import IndexNotFoundError

    return IndexNotFoundError(f"no index at {index.store}: run `exocortex index` first")


def _pack_candidates(budget: int, minimum: int) -> int:
    """How many ranked chunks to ask for: enough to fill the budget (a chunk is ~100+ tokens)."""
    return max(minimum, budget // 50)


ANSWER_FORMAT = 1
"""The shape of the answers kept on disk (``_hits_to_json``, ``_pack_to_json``): part of every L3 key,
so a change of shape makes old entries unreachable instead of misread."""

_ANSWER_CODE = ("api.py", "config.py", "escape.py", "tokens.py", "chunking", "pack", "search", "store")
"""The modules an answer is computed by (beside the store's data): their sizes and times are part of
every L3 key, so an upgraded or edited exocortex never serves another version's answers."""


@functools.cache
def _code_fingerprint() -> str:
    """A digest of the version and of every module in ``_ANSWER_CODE`` (size and mtime): stable between
    processes of one installation, different after an upgrade or an edit."""
    import hashlib

    from exocortex import __version__

    base = Path(__file__).parent
    modules: list[Path] = []
    for name in _ANSWER_CODE:
        modules.extend([base / name] if name.endswith(".py") else sorted((base / name).rglob("*.py")))
    parts = [__version__]
    for module in modules:
        try:
            st = module.stat()
        except OSError:
            continue
        parts.append(f"{module.relative_to(base).as_posix()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.blake2b("\n".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _answer_key_head(config: Config) -> tuple[str, ...]:
    """What every L3 key starts with: the answers' shape, the code's and the settings' fingerprints."""
    from exocortex.config import settings_fingerprint

    head: tuple[str, ...] = (f"a{ANSWER_FORMAT}", _code_fingerprint(), settings_fingerprint(config))
    if config.weight_semantic > 0 or config.weight_semantic_file > 0:
        from exocortex.search.semantic import model_stamp

        head = (*head, model_stamp())  # another model (an upgraded package) answers differently
    return head


def _hits_to_json(hits: Sequence[SearchHit]) -> list[Any]:
    return [[h.path, h.ordinal, h.symbol, h.kind, h.lines[0], h.lines[1], float(h.score),
             {name: float(value) for name, value in h.signals.items()}] for h in hits]


def _hits_from_json(data: Any) -> list[SearchHit] | None:
    """The hits ``_hits_to_json`` wrote, or None for anything of another shape (a miss, not an error)."""
    if not isinstance(data, list):
        return None
    from exocortex.search.hits import SearchHit

    try:
        return [SearchHit(path=_text(path), ordinal=_whole(ordinal), symbol=_text(symbol), kind=_text(kind),
                          lines=(_whole(start), _whole(end)), score=float(score),
                          signals={_text(n): float(v) for n, v in signals.items()})
                for path, ordinal, symbol, kind, start, end, score, signals in data]
    except (TypeError, ValueError, AttributeError):
        return None


def _pack_to_json(pack: Pack) -> dict[str, Any] | None:
    """A code pack as JSON for the L3 (None for one that holds other items: a variant pack is not kept)."""
    from exocortex.pack import PackItem

    if not all(isinstance(item, PackItem) for item in pack.items):
        return None
    items = [[i.path, i.kind, [[a, b] for a, b in i.lines], i.symbol, float(i.score), i.tokens]
             for i in pack.items if isinstance(i, PackItem)]
    return {"budget": pack.budget, "tokenizer": pack.tokenizer, "tokens": pack.tokens, "text": pack.text,
            "items": items, "index": dict(pack.index), "format": pack.format,
            "redactions": [dict(r) for r in pack.redactions], "redacted": pack.redacted}


def _pack_from_json(data: Any, query: str, meta: StoreMeta) -> Pack | None:
    """The pack ``_pack_to_json`` wrote (its index's age made now's), or None for anything of another shape."""
    if not isinstance(data, dict):
        return None
    from exocortex.pack import Pack, PackItem

    try:
        items = tuple(PackItem(path=_text(path), kind=_text(kind),
                               lines=tuple((_whole(a), _whole(b)) for a, b in lines),
                               symbol=_text(symbol), score=float(score), tokens=_whole(tokens))
                      for path, kind, lines, symbol, score, tokens in data["items"])
        index = dict(data["index"])
        index["age_s"] = round(max(0.0, time.time() - meta.updated_at), 1)
        return Pack(query=query, budget=_whole(data["budget"]), tokenizer=_text(data["tokenizer"]),
                    tokens=_whole(data["tokens"]), text=_text(data["text"]), items=items, index=index,
                    format=_text(data["format"]), redactions=tuple(dict(r) for r in data["redactions"]),
                    redacted=bool(data["redacted"]))
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    return value


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
        self.freshness: Freshness | None = None
        """How current the index was for the last answer (see :meth:`refresh`)."""
        self._watcher: ChangeWatcher | None = None

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
        from exocortex.indexing.run import run_index  # workers, parsers: imported by the runs that need them

        report = run_index(self.root, self.store, self.config, rebuild=rebuild, progress=progress)
        if report.added or report.changed or report.removed or report.touched:
            self._update_search_data()
        return report

    def _update_search_data(self) -> None:
        """After a commit, bring the search data along when a base of it exists: the changed files
        are read into a delta here, where the database is already open, instead of by the next
        search's process (which would import it for that alone). A failure is only logged: the next
        search builds what is missing."""
        from exocortex.errors import ExocortexError
        from exocortex.log import get_logger
        from exocortex.search.cache import has_base, load_search_data
        from exocortex.store.lance import StoreReader

        if not has_base(self.store, read_meta(self.store).fingerprint):
            return  # never searched with these settings: the first search builds the base
        try:
            data = load_search_data(StoreReader(self.store), self.config)
        except (ExocortexError, OSError) as exc:
            get_logger(__name__).warning("could not update the search data; the next search will",
                                         error=str(exc))
            return
        if self.config.weight_semantic > 0 or self.config.weight_semantic_file > 0:
            from exocortex.search.vectors import make_missing

            try:
                make_missing(data)  # the changed files' chunk vectors, made with the index
            except (ExocortexError, OSError, ValueError) as exc:
                get_logger(__name__).warning("could not make the chunk vectors; the next search will",
                                             error=str(exc))

    def refresh(self) -> Freshness:
        """Make sure the index matches the disk before an answer, and say how current it is.

        With a watcher running (:meth:`watch`), nothing is read when the watcher saw no change
        since the last refresh; otherwise the tree is walked and what changed is re-indexed
        (a walk and a stat of each file when nothing did). An index that does not exist yet is
        not created here: the answer's own call raises ``IndexNotFoundError``. Search, pack and
        the lookups call this first unless ``refresh_before_answer`` is off.
        """
        import dataclasses

        from exocortex.errors import InputError, StoreError, StoreLockedError, WorkerCrashedError
        from exocortex.log import get_logger
        from exocortex.store.meta import META_FILE

        log = get_logger(__name__)
        started = time.perf_counter()
        if not (self.store / META_FILE).is_file():
            raise _no_index(self)
        if not self.config.refresh_before_answer:
            return self._freshness("off", None, started)
        if not os.access(self.store, os.W_OK):  # a store this user may read but not write
            return self._freshness("read-only", None, started)
        watcher = self._watcher
        taken: set[str] = set()
        overflow = True  # unless a watcher lists every change, the walk is whole
        if watcher is not None and watcher.settle():
            taken, overflow = watcher.take()
            if not taken and not overflow:
                return self._freshness("watcher", None, started, touch=True)
            checked = "watcher"
        else:
            checked = "scan"
            if watcher is None:
                answer = ask_watch_process(self.store)  # an `exocortex watch` keeping this store current
                confirmed = self._confirmed(answer, started) if answer is not None else None
                if confirmed is not None:
                    return confirmed
            if index_is_current(self.root, self.store, self.config):  # no lock taken, nothing written
                return self._freshness(checked, None, started, touch=True)
        # An index being built holds the lock for as long as its run takes: answer from its last
        # checkpoint at once rather than wait.
        wait = self.config.lock_wait_s if _building(read_meta(self.store)) else REFRESH_LOCK_WAIT_S
        config = dataclasses.replace(self.config, lock_wait_s=max(self.config.lock_wait_s, wait))
        try:
            from exocortex.indexing.run import run_index

            scope = self._scope(taken) if taken and not overflow else None
            report = run_index(self.root, self.store, config, scope=scope)
        except BaseException as exc:
            if watcher is not None:
                watcher.put_back(taken)  # the next refresh tries them again
            if isinstance(exc, StoreLockedError):
                return self._freshness("busy", None, started)
            if not isinstance(exc, StoreError | InputError | WorkerCrashedError):
                raise
            # The update failed (a lock file replaced by a folder, a worker killed, a file that vanished
            # mid-read): the last commit still answers, if it is readable (read_meta raises if not), and
            # the answer says so; the reads that follow verify what they serve.
            read_meta(self.store)
            log.warning("could not bring the index up to date; answering from the last commit", error=exc.message)
            return self._freshness("failed", None, started, error=exc.message)
        return self._freshness(checked, report, started)

    def _scope(self, changed: set[str]) -> list[str] | None:
        """Root-relative paths of what a watcher saw change, for a walk of those only; None (walk
        everything) when one is an ignore file, git's state or the root itself, which change what
        every other path means."""
        ignore_files = {".gitignore", *self.config.extra_ignore_files}
        scope = []
        for path in changed:
            rel = os.path.relpath(path, self.root).replace(os.sep, "/")
            if rel.startswith("../") or rel == "..":
                continue  # the store, outside the tree
            if rel == "." or rel == ".git" or rel.startswith(".git/") or rel.rsplit("/", 1)[-1] in ignore_files:
                return None
            scope.append(rel)
        return scope

    def _freshness(self, checked: str, report: IndexReport | None, started: float, *, touch: bool = False,
                   error: str | None = None) -> Freshness:
        meta = read_meta(self.store)
        now = time.time()
        updated_at = now if touch else meta.updated_at
        changed = (report.added + report.changed + report.removed) if report is not None else 0
        fresh = Freshness(
            root=meta.root,
            updated_at=updated_at,
            age_s=round(max(0.0, now - updated_at), 3),
            changed_files=changed,
            changed_paths=tuple(report.changed_paths) if report is not None else (),
            checked=checked,
            refresh_s=round(time.perf_counter() - started, 4),
            error=error,
            building=_building(meta),
        )
        self.freshness = fresh
        return fresh

    def _confirmed(self, answer: dict[str, Any], started: float) -> Freshness | None:
        """The freshness a watch process confirmed (its own, as JSON: it made the update, if there was one);
        None for an answer of another shape (a watch process of another version: walk instead)."""
        try:
            fresh = Freshness(**{**answer, "changed_paths": tuple(answer.get("changed_paths") or ()),
                                 "checked": "watch process", "refresh_s": round(time.perf_counter() - started, 4)})
        except TypeError:
            return None
        self.freshness = fresh
        return fresh

    def _answer_from_current_index(self) -> None:
        """What every answer does first: :meth:`refresh` (its result is kept as ``self.freshness``).

        A store with no code index (none yet, or variants only) is left to the answer's own call.
        """
        from exocortex.store.meta import META_FILE

        if (self.store / META_FILE).is_file():
            self.refresh()

    def watch(self, *, debounce_ms: int | None = None) -> ChangeWatcher:
        """Follow the tree's changes on a thread, so :meth:`refresh` only re-indexes when something changed.

        Returns the running watcher (``.stop()`` ends it). The MCP server and ``exocortex watch``
        start one; a plain CLI call does not (it walks the tree instead).
        """
        from exocortex.indexing.watch import ChangeWatcher

        if self._watcher is not None and self._watcher.alive:
            return self._watcher
        debounce = self.config.watch_debounce_ms if debounce_ms is None else debounce_ms
        self._watcher = ChangeWatcher(self.root, self.store, debounce_ms=debounce).start()
        return self._watcher

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    def dry_run(self) -> DryRunReport:
        """What ``update`` would index and skip, with estimated tokens and time; writes nothing."""
        from exocortex.indexing.dryrun import dry_run

        return dry_run(self.root, self.store, self.config)

    def status(self) -> IndexStatus:
        """Totals of the last committed run; raises ``IndexNotFoundError`` when there is none."""
        from exocortex.search.cache import search_data_state

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
            search_data=search_data_state(self.store, meta),
            building=_building(meta),
        )

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        """Chunks ranked for ``query`` (BM25, structure graph and neighbours, fused), best first.

        ``include`` / ``exclude``: gitignore-style globs over root-relative paths (``src/**/*.py``,
        ``tests/``, ``*.md``); only chunks of files some include matches (every file, without
        includes) and no exclude matches are ranked, before the list is cut to ``k``. A blank or
        unreadable glob is a ``UsageError``. Raises ``NoMatchesError`` when the query is empty or
        nothing in the index (or in the files the globs allow) matches it.
        """
        from exocortex.errors import NoMatchesError
        from exocortex.search import search
        from exocortex.search.filters import PathFilter
        from exocortex.store.lance import StoreReader

        _check_query(query, self.config.max_query_bytes)
        k = self.config.search_k if k is None else _check_count("k", k)
        paths = PathFilter.of(include, exclude)
        self._answer_from_current_index()
        reader = StoreReader(self.store)
        hits = self._cached_search(reader, query, k, None,
                                   lambda: search(reader, query, k, self.config, paths=paths), paths)
        if not hits:
            within = f" in the files {paths.describe()} allows" if paths is not None else ""
            raise NoMatchesError(f"nothing in the index matches {shown_query(query)}{within}")
        return hits

    def _cached_search(
        self, reader: Any, query: str, k: int, candidates: int | None, run: Callable[[], list[SearchHit]],
        paths: Any = None, *, pending: list[tuple[tuple[Any, ...], Any]] | None = None,
    ) -> list[SearchHit]:
        """``run()``'s hits, through this process's query cache (L1, L2) and the store's answers on
        disk (L3, :meth:`_answers`), keyed by the store's commit, everything the ranking depends on
        and the path filter ``paths`` (a :class:`exocortex.search.filters.PathFilter` or None).

        Hits found in neither are written to the L3 at once, or appended to ``pending`` for the
        caller to write with its own answer (one opening of the folder).
        """
        from exocortex.memory.engine import engine_memory

        memory = engine_memory(self.config)
        commit = reader.meta.data_id
        path_key = paths.key if paths is not None else None
        key = (str(self.store), commit, query, k, candidates, self.config, path_key)
        answers = self._answers()
        if answers is None:
            return memory.search(key, run)
        disk_key = ("hits", *_answer_key_head(self.config), commit, query, k, candidates or 0, path_key or ())

        def load() -> list[SearchHit]:
            hits = _hits_from_json(answers.get(commit, disk_key))
            if hits is None:
                hits = run()
                entry = (disk_key, _hits_to_json(hits))
                if pending is not None:
                    pending.append(entry)
                else:
                    answers.put(commit, [entry])
            return hits

        return memory.search(key, load)

    def _answers(self) -> AnswerCache | None:
        """The store's answers on disk (``<store>/answers``, the L3 of search hits and packs), or None:
        turned off (``answer_cache_max_bytes`` 0), or a store this user cannot write."""
        from exocortex.memory.engine import engine_memory

        if not os.access(self.store, os.W_OK | os.X_OK):
            return None
        return engine_memory(self.config).answers(self.store)

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
        """This process's engine caches (hits, misses, bytes per level) and memory governor, and this
        store's answers on disk (``caches["answers"]``: what its L3 holds now; None when off)."""
        from exocortex.memory.engine import engine_memory

        stats = engine_memory(self.config).stats()
        answers = self._answers()
        stats["caches"]["answers"] = None if answers is None else answers.stats()
        return stats

    def pack(
        self,
        query: str,
        budget: int | str,
        tokenizer: str | None = None,
        format: str = "markdown",
        *,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        pin: Sequence[str] | None = None,
        redact: bool = True,
    ) -> Pack:
        """The context ``query`` needs, rendered to fit ``budget`` tokens exactly.

        ``budget`` is a number of tokens or a string such as ``"8000"``, ``"128k"``, ``"1m"``.
        ``include`` / ``exclude`` limit the ranked files as in :meth:`search`; ``pin`` names
        files (root-relative, or absolute inside the root) that go in first, each whole when it
        fits, else its skeleton, else its path, whatever the globs say. With ``redact`` (the
        default) secrets in the text become ``[REDACTED:<type>]`` markers, and ``Pack.redactions``
        says where they were (:mod:`exocortex.pack.redact`). Raises ``NoMatchesError``
        when nothing matches (and nothing is pinned), ``UsageError`` for a bad glob,
        ``PathOutsideRootError`` for a pin that leads out of the root, ``InputPathError`` for a
        pin the index does not hold, and ``BudgetTooSmallError`` when not even an outline fits.
        """
        from exocortex.errors import NoMatchesError
        from exocortex.pack import pack_context, parse_budget
        from exocortex.pack.pins import pinned_paths
        from exocortex.search import search
        from exocortex.search.filters import PathFilter
        from exocortex.store.lance import StoreReader

        _check_query(query, self.config.max_query_bytes)
        tokens = parse_budget(budget)
        _check_tokenizer(tokenizer)
        name = tokenizer or self.config.tokenizer
        paths = PathFilter.of(include, exclude)
        pinned = pinned_paths(self.root, pin)
        variants = self._variant_pack(query, tokens, name, format)
        if variants is not None:
            return variants
        self._answer_from_current_index()
        reader = StoreReader(self.store)
        k = _pack_candidates(tokens, self.config.search_k)
        pool = self.config.pack_search_candidates
        answers = self._answers()
        commit = reader.meta.data_id
        disk_key = ("pack", *_answer_key_head(self.config), commit, query, tokens, name, format, pinned,
                    int(redact), k, pool, paths.key if paths is not None else ())
        if answers is not None:
            cached = _pack_from_json(answers.get(commit, disk_key), query, reader.meta)
            if cached is not None:
                return self._with_freshness(cached)
        pending: list[tuple[tuple[Any, ...], Any]] = []  # the hits and the pack, written to the L3 in one go
        try:
            hits = self._cached_search(
                reader, query, k, pool, lambda: search(reader, query, k, self.config, candidates=pool, paths=paths),
                paths, pending=pending)
            if not hits and not pinned and paths is not None:
                raise NoMatchesError(f"nothing in the index matches {shown_query(query)} in the files "
                                     f"{paths.describe()} allows")
            pack = pack_context(query, hits, reader, budget=tokens, tokenizer=name, fmt=format,
                                snapshot_max_bytes=self.config.pack_snapshot_max_bytes,
                                count_memo_entries=self.config.pack_count_memo_entries,
                                whole_files=self.config.pack_whole_files,
                                whole_file_share=self.config.pack_whole_file_share,
                                pinned=pinned, redact=redact)
        except Exception:
            if answers is not None and pending:
                answers.put(commit, pending)  # the hits stand on their own (the budget was too small, say)
            raise
        if answers is not None:
            encoded = _pack_to_json(pack)
            if encoded is not None:
                pending.append((disk_key, encoded))
            answers.put(commit, pending)
        return self._with_freshness(pack)

    def _with_freshness(self, pack: Pack) -> Pack:
        """``pack`` whose ``index`` also says how current the index was (:class:`Freshness`)."""
        import dataclasses

        if self.freshness is None:
            return pack
        return dataclasses.replace(pack, index={**pack.index, **self.freshness.to_dict()})

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

    # --- the query-less outline and the lookups (search/repomap.py, search/lookup.py) ---------------

    def map(
        self,
        budget: int | str = 2000,
        *,
        include: Sequence[str] | None = None,
        focus: Sequence[str] | None = None,
        tokenizer: str | None = None,
    ) -> RepoMap:
        """A ranked outline of the repository within ``budget`` tokens, with no query.

        Files are ranked by PageRank over the structure graph (towards ``focus`` paths or globs
        when given); each shows its path and its most important definitions (line range and
        signature), and the long tail its path alone. ``include`` (gitignore-style globs) limits
        the files shown. ``text`` never holds more than ``budget`` tokens of ``tokenizer``.
        Raises ``NoMatchesError`` when no indexed file matches ``include`` or ``focus``, and
        ``BudgetTooSmallError`` when not even one path fits.
        """
        import dataclasses

        from exocortex.pack import parse_budget
        from exocortex.search.repomap import repo_map
        from exocortex.store.lance import StoreReader

        tokens = parse_budget(budget)
        _check_tokenizer(tokenizer)
        self._answer_from_current_index()
        outline = repo_map(StoreReader(self.store), tokens, tokenizer or self.config.tokenizer, self.config,
                           include=include, focus=focus)
        if self.freshness is None:
            return outline
        return dataclasses.replace(outline, index=self.freshness.to_dict())

    def tree(self, *, depth: int | None = None) -> list[dict[str, Any]]:
        """Indexed files, tokens and bytes per directory (each directory's whole subtree), in tree order.

        Rows are ``{"directory", "depth", "files", "tokens", "bytes"}``, the root ``"."`` first at
        depth 0, each directory after its parent; ``depth`` keeps rows down to that depth.
        Tokens are counted with ``config.tokenizer`` when the index counted it (else the first
        of ``index_tokenizers``).
        """
        from exocortex.search.repomap import directory_tokens
        from exocortex.store.lance import StoreReader

        reader = StoreReader(self.store)
        counted = self.config.index_tokenizers
        name = self.config.tokenizer if self.config.tokenizer in counted else counted[0]
        return directory_tokens(reader, name, depth)

    def find_symbol(
        self, name: str, *, kind: str | None = None, include_body: bool = False, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Where ``name`` is defined: ``[{"path", "name", "kind", "lines": [start, end], "signature"}]``.

        Exact names first (``User.slug``), then qualified names ending in it (``slug`` finds
        ``User.slug``), then the same ignoring case; ``kind`` keeps one kind (function, class,
        method, ...). ``include_body`` adds ``"body"``: the definition's source lines. Raises
        ``UsageError`` for an empty name and ``NoMatchesError`` when nothing is defined so.
        """
        from exocortex.search.lookup import find_symbol
        from exocortex.store.lance import StoreReader

        if isinstance(name, str) and not name.strip():
            from exocortex.errors import UsageError

            raise UsageError("the symbol name is empty: pass a name such as make_user or User.slug")
        self._answer_from_current_index()
        return find_symbol(StoreReader(self.store), name, kind=kind, include_body=include_body, limit=limit)

    def find_references(self, symbol: str, *, path: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Where ``symbol`` is used: ``[{"path", "line", "text", "symbol"}]``, definition lines left out.

        The last component of ``symbol`` is looked for as a whole word in every indexed file
        (files whose code references it first); ``text`` is the line, stripped and cut to 200
        characters; ``symbol`` is the definition the line sits in. ``path`` (a path or a
        gitignore-style glob) keeps the files it matches. Raises ``NoMatchesError`` when no line
        uses it.
        """
        from exocortex.search.lookup import find_references
        from exocortex.store.lance import StoreReader

        if isinstance(symbol, str) and not symbol.strip():
            from exocortex.errors import UsageError

            raise UsageError("the symbol is empty: pass a name such as make_user or User.slug")
        self._answer_from_current_index()
        return find_references(StoreReader(self.store), symbol, path=path, limit=limit)

    def read_range(self, path: str, start_line: int, end_line: int, *, max_tokens: int | None = None) -> dict[str, Any]:
        """Lines ``start_line..end_line`` (1-based, inclusive) of an indexed file, read from disk now.

        Returns ``{"path", "start_line", "end_line", "text", "tokens", "truncated", "total_lines"}``.
        ``path`` is relative to the root (or absolute inside it); ``..``, a path outside the root
        and a symlink that leads out raise ``PathOutsideRootError``, a missing or unindexed file
        ``InputPathError``, a bad range ``UsageError``. An end past the file is clamped;
        ``max_tokens`` keeps whole lines up to that many tokens and sets ``truncated``.
        """
        from exocortex.search.lookup import read_range
        from exocortex.store.lance import StoreReader

        self._answer_from_current_index()
        return read_range(self.root, StoreReader(self.store), path, start_line, end_line, self.config,
                          max_tokens=max_tokens)

    def __repr__(self) -> str:
        return f"Index(root={str(self.root)!r}, store={str(self.store)!r})"
