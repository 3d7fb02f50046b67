"""The memory the engine itself keeps in one process: its caches and the governor over them.

- ``queries``: search results, keyed by the store's version, the query, ``k``, the candidate
  pool and the whole configuration (so an edit of the index or of a setting can never serve a
  stale ranking). Two in-memory levels, sized by ``query_cache_*`` in ``Config`` (by default the
  issue's L1 100 entries / 10 MiB and L2 1,000 entries / 100 MiB). A repeated question in a
  long-lived process (the Python API, a server) skips the search; ``pack`` shares it.
- ``parsed``: analysed files (chunks, token counts, terms) by content hash and the options they
  were made with, so identical files (vendored copies, generated code) are parsed once per
  process during an index run. One byte-bounded LRU level (``parsed_cache_bytes``).
- ``answers``: the persistent L3 behind ``queries``, one ``AnswerCache`` per store (``answers(store)``):
  search results and packs on disk under ``<store>/answers/``, keyed by the store's commit, so a
  question repeated in a new process (a CLI call) is answered without searching again. Sized by
  ``answer_cache_max_bytes`` / ``answer_cache_max_entries`` (0: none); it holds no RAM, so the
  governor has nothing to free there. The API builds its keys (``api.Index``), since what an
  answer depends on is known above this layer.
- ``governor``: a ``MemoryGovernor`` over the process's RSS with the budget ``memory_budget``
  (``EXOCORTEX_MEMORY_BUDGET``; see ``governor``) and level ``memory_level``. Both caches are
  registered with it (the query cache as kind ``cache``, the parsed files as ``parsed``); the
  engine calls ``check()`` after each search and index batch (a check reads the RSS and returns
  at once when usage is under the threshold: 28 µs, measured over 2,000 checks of an idle
  governor on the 2-core Xeon of docs/benchmarks.md).

There is one ``EngineMemory`` per process (``engine_memory(config)``), rebuilt when called with
settings whose sizes differ from the current one's. Vector tiers join it when the engine holds
embeddings (the semantic signal's chunk vectors, :mod:`exocortex.search.vectors`, register theirs
with ``register_vectors``); ``stats()["vector_tiers"]`` is None until then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exocortex.config import Config
from exocortex.memory.answers import ANSWERS_DIRNAME, AnswerCache
from exocortex.memory.cache import Level, MultiLevelCache
from exocortex.memory.governor import MemoryGovernor, cache_releaser, parse_memory_budget, total_ram
from exocortex.memory.policies import LRU, OversizeError


@dataclass(frozen=True, slots=True)
class MemorySettings:
    """The configuration fields that shape the engine's memory (a change rebuilds it).

    The defaults are ``Config``'s (``defaults()``), so they are written in one place.
    """

    query_l1_entries: int
    query_l1_bytes: int
    query_l2_entries: int
    query_l2_bytes: int
    parsed_bytes: int
    budget: str | None
    level: str
    answer_bytes: int
    answer_entries: int

    @classmethod
    def from_config(cls, config: Config) -> MemorySettings:
        return cls(
            query_l1_entries=config.query_cache_l1_entries,
            query_l1_bytes=config.query_cache_l1_bytes,
            query_l2_entries=config.query_cache_l2_entries,
            query_l2_bytes=config.query_cache_l2_bytes,
            parsed_bytes=config.parsed_cache_bytes,
            budget=config.memory_budget,
            level=config.memory_level,
            answer_bytes=config.answer_cache_max_bytes,
            answer_entries=config.answer_cache_max_entries,
        )

    @classmethod
    def defaults(cls) -> MemorySettings:
        return cls.from_config(Config())


SIZE_SAMPLE = 32
"""Items of a longer list, tuple or set that :func:`deep_size` measures (evenly spaced); the rest
are taken to be of their average size."""


def deep_size(value: Any) -> int:
    """The bytes ``value`` holds, measured through every part: NumPy arrays and Arrow data by their
    ``nbytes`` (a memory-mapped file's too), containers, strings and numbers by ``sys.getsizeof``,
    and the fields of dataclasses (a cached search's hits, a commit's search data, a variant layout).

    A sequence of more than ``SIZE_SAMPLE`` items (a pack's 1,000 candidate hits, each with its
    signals) is measured on an evenly spaced sample and scaled: walking every hit cost about
    0.1 s per cached pack search at 50k files (cProfile), a third of a 128K pack.
    """
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int) and not isinstance(value, type):  # numpy.ndarray, pyarrow Table/Array/Buffer
        return nbytes
    size = sys.getsizeof(value)
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return size
    if isinstance(value, dict):
        return size + sum(deep_size(k) + deep_size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        n = len(value)
        if n <= SIZE_SAMPLE:
            return size + sum(deep_size(item) for item in value)
        items = value if isinstance(value, list | tuple) else list(value)
        step = n / SIZE_SAMPLE
        sampled = sum(deep_size(items[int(i * step)]) for i in range(SIZE_SAMPLE))
        return size + round(sampled * n / SIZE_SAMPLE)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return size + sum(deep_size(getattr(value, f.name)) for f in dataclasses.fields(value))
    return size


class EngineMemory:
    """The engine's caches and governor in this process; see the module docstring."""

    def __init__(self, settings: MemorySettings | None = None, *, governor: MemoryGovernor | None = None) -> None:
        self.settings = settings = settings or MemorySettings.defaults()
        levels: list[Level] = []
        if settings.query_l1_entries > 0 and settings.query_l1_bytes > 0:
            levels.append(Level("L1", LRU(settings.query_l1_entries, settings.query_l1_bytes)))
        if settings.query_l2_entries > 0 and settings.query_l2_bytes > 0:
            levels.append(Level("L2", LRU(settings.query_l2_entries, settings.query_l2_bytes)))
        self.queries: MultiLevelCache[Any, list[Any]] | None = (
            MultiLevelCache(levels, sizeof=deep_size) if levels else None
        )
        self.parsed: MultiLevelCache[Any, Any] | None = (
            MultiLevelCache([Level("parsed", LRU(max_bytes=settings.parsed_bytes))], sizeof=_cost)
            if settings.parsed_bytes > 0
            else None
        )
        if governor is None:
            budget = None if settings.budget is None else parse_memory_budget(settings.budget, total_ram(),
                                                                               what="memory_budget")
            governor = MemoryGovernor(budget, level=settings.level)
        self.governor = governor
        if self.queries is not None:
            governor.register("query-cache", cache_releaser(self.queries), kind="cache")
        if self.parsed is not None:
            governor.register("parsed-files", cache_releaser(self.parsed), kind="parsed")
        self.registered: dict[str, MultiLevelCache[Any, Any]] = {}
        """Caches the layers above keep (search data, pack snapshots, variant layouts), by name."""
        self._registered_lock = threading.Lock()
        self._answers: dict[str, AnswerCache] = {}
        self._vectors: dict[str, weakref.ref[Any]] = {}

    def answers(self, store: str | os.PathLike[str]) -> AnswerCache | None:
        """The persistent answers of the store at ``store`` (``<store>/answers``); None when the
        settings turn them off (``answer_cache_max_bytes`` or ``answer_cache_max_entries`` 0)."""
        settings = self.settings
        if settings.answer_bytes <= 0 or settings.answer_entries <= 0:
            return None
        directory = os.path.join(os.fspath(store), ANSWERS_DIRNAME)
        with self._registered_lock:
            cache = self._answers.get(directory)
            if cache is None:
                cache = self._answers[directory] = AnswerCache(
                    directory, max_bytes=settings.answer_bytes, max_entries=settings.answer_entries)
            return cache

    def register_cache(self, name: str, make: Callable[[], MultiLevelCache[Any, Any]]) -> MultiLevelCache[Any, Any]:
        """The cache registered as ``name`` in this process, made by ``make()`` the first time.

        A layer above memory (search, pack, genomics) keeps what it holds in a memory-layer cache
        bounded in bytes; registered here, the governor can free it under pressure (kind
        ``cache``) and ``stats()`` (so ``exocortex status``) shows its entries and bytes.
        """
        with self._registered_lock:
            cache = self.registered.get(name)
            if cache is None:
                cache = self.registered[name] = make()
                self.governor.register(name, cache_releaser(cache), kind="cache")
            return cache

    def replace_cache(self, name: str, cache: MultiLevelCache[Any, Any]) -> None:
        """Register ``cache`` as ``name``, in place of the cache registered under that name before."""
        with self._registered_lock:
            self.registered[name] = cache
            self.governor.register(name, cache_releaser(cache), kind="cache")

    def register_vectors(self, name: str, tiers: Any) -> None:
        """Report the vector store ``tiers`` (a ``TieredVectorStore``, held weakly) in ``stats()``."""
        with self._registered_lock:
            self._vectors[name] = weakref.ref(tiers)

    def unregister_vectors(self, name: str) -> None:
        with self._registered_lock:
            self._vectors.pop(name, None)

    def vector_stats(self) -> dict[str, Any] | None:
        """Rows and bytes per tier of every live vector store, summed (None: no store)."""
        with self._registered_lock:
            live = [(name, ref()) for name, ref in self._vectors.items()]
        stores = [(name, tiers) for name, tiers in live if tiers is not None]
        if not stores:
            return None
        out: dict[str, Any] = {"stores": len(stores), "device": sorted({t.device for _, t in stores})}
        for tier in ("hot", "warm", "cold"):
            per = [getattr(t.stats(), tier) for _, t in stores]
            out[tier] = {"rows": sum(p.rows for p in per), "bytes": sum(p.bytes for p in per)}
        return out

    def search(self, key: Any, run: Callable[[], list[Any]]) -> list[Any]:
        """The hits cached under ``key``, or ``run()``'s (cached; concurrent misses run it once)."""
        if self.queries is None:
            hits = run()
        else:
            try:
                hits = self.queries.get_or_load(key, lambda _key: run())
            except OversizeError:  # larger than a whole level: a result is never worth evicting all
                hits = run()
        self.governor.check()
        return list(hits)

    def parsed_get(self, key: Any) -> Any:
        return None if self.parsed is None else self.parsed.get(key)

    def parsed_put(self, key: Any, value: Any) -> None:
        if self.parsed is None:
            return
        with contextlib.suppress(OversizeError):  # one analysis larger than the whole cache is not kept
            self.parsed.set(key, value)

    def stats(self) -> dict[str, Any]:
        return {
            "governor": self.governor.stats(),
            "caches": {
                "queries": None if self.queries is None else self.queries.stats(),
                "parsed_files": None if self.parsed is None else self.parsed.stats(),
                **{name: cache.stats() for name, cache in sorted(self.registered.items())},
            },
            "vector_tiers": self.vector_stats(),
        }


def _cost(value: Any) -> int:
    """The size of a parsed-file entry: the analysis's own estimate (``cost``), else 1."""
    cost = getattr(value, "cost", 1)
    return cost if isinstance(cost, int) and cost > 0 else 1


_lock = threading.Lock()
_current: EngineMemory | None = None


def engine_memory(config: Config | MemorySettings | None = None) -> EngineMemory:
    """This process's ``EngineMemory``: built at first use, rebuilt for other sizes.

    Without ``config`` the current one (or one with the defaults) is returned.
    """
    global _current
    with _lock:
        if config is None:
            if _current is None:
                _current = EngineMemory()
            return _current
        settings = config if isinstance(config, MemorySettings) else MemorySettings.from_config(config)
        if _current is None or _current.settings != settings:
            _current = EngineMemory(settings)
        return _current
