"""The query planner's layouts and call counts live in a memory-layer cache: bounded in bytes by
``variant_layout_cache_bytes``, shown by the engine's memory stats, freed by the governor."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from exocortex.genomics import layout as layout_mod
from exocortex.genomics.ingest import ingest_vcf
from exocortex.genomics.query import VariantQuery, run_query, sample_names
from exocortex.genomics.store import VariantStore, genomics_dir
from exocortex.memory import engine as engine_mod
from exocortex.memory.engine import EngineMemory, MemorySettings, deep_size, engine_memory
from exocortex.memory.governor import MemoryGovernor

FIXTURES = Path(__file__).parent / "fixtures" / "vcf"
FILES = ("test-haploidX.vcf", "chr_m_indels.vcf.gz", "cyvcf2-test.vcf.gz")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    made = []
    for name in FILES:
        store = tmp_path_factory.mktemp("layout") / ".exocortex"
        ingest_vcf(FIXTURES / name, store)
        made.append(store)
    return made


@pytest.fixture
def fresh_memory(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A process memory of its own for one test (the previous one comes back after it)."""

    def make(cache_bytes: int | None = None, governor: MemoryGovernor | None = None) -> EngineMemory:
        if cache_bytes is not None:
            monkeypatch.setenv("EXOCORTEX_VARIANT_LAYOUT_CACHE_BYTES", str(cache_bytes))
        memory = EngineMemory(MemorySettings.defaults(), governor=governor)
        monkeypatch.setattr(engine_mod, "_current", memory)
        return memory

    return make


def _answers(store: Path) -> list[Any]:
    """A sample query (it needs the layout and the call counts) and a region query (the layout's span)."""
    vstore = VariantStore(store)
    name = sorted(sample_names(vstore).values())[0]
    chrom = layout_mod.store_layout(vstore).chroms[0]
    out = []
    for query in (VariantQuery(sample=name, limit=5), VariantQuery(region=f"{chrom}:1-100000000", limit=5)):
        result = run_query(vstore, query)
        out.append((result.matched, result.rows["key"].to_pylist()))
    return out


def _level(memory: EngineMemory) -> dict[str, Any]:
    stats: dict[str, Any] = memory.stats()["caches"][layout_mod.CACHE_NAME]["levels"]["layouts"]
    return stats


def _held(store: Path) -> int:
    """The measured bytes of one store's layout and call counts."""
    vstore = VariantStore(store)
    layout = layout_mod.store_layout(vstore)
    return deep_size(layout) + deep_size(layout_mod.call_counts(vstore, layout))


def test_layouts_and_counts_show_in_the_engine_memory_stats(stores: list[Path], fresh_memory: Any) -> None:
    memory = fresh_memory()
    want = [_answers(store) for store in stores]
    level = _level(memory)
    assert level["entries"] == 2 * len(stores)  # a layout and call counts per store
    assert level["bytes"] == sum(_held(store) for store in stores) > 0
    assert level["max_bytes"] == 64 * 1024 * 1024  # the default setting
    assert layout_mod.CACHE_NAME in memory.governor.releasers("cache")
    stats = engine_memory().stats()  # what `exocortex status` shows: the same process memory
    assert stats["caches"][layout_mod.CACHE_NAME]["requests"] > 0
    # a second round is served from memory: the files on disk are not read again
    for store in stores:
        for derived in (layout_mod.SPAN_FILE, layout_mod.COUNTS_FILE):
            (genomics_dir(store) / derived).unlink()
    assert [_answers(store) for store in stores] == want
    assert not any((genomics_dir(store) / layout_mod.SPAN_FILE).exists() for store in stores)


def test_the_cache_is_bounded_by_its_byte_setting(stores: list[Path], fresh_memory: Any) -> None:
    fresh_memory()
    want = [_answers(store) for store in stores]
    biggest = max(_held(store) for store in stores)
    memory = fresh_memory(cache_bytes=biggest)
    for _ in range(2):
        assert [_answers(store) for store in stores] == want  # results never change with the bound
        level = _level(memory)
        assert level["max_bytes"] == biggest and 0 < level["bytes"] <= biggest
        assert level["entries"] < 2 * len(stores)
    evictions = memory.stats()["caches"][layout_mod.CACHE_NAME]["evictions"]["layouts"]
    assert sum(evictions.values()) > 0
    memory = fresh_memory(cache_bytes=1)  # smaller than any value: nothing is kept, answers are the same
    assert [_answers(store) for store in stores] == want
    assert _level(memory)["entries"] == 0
    memory = fresh_memory(cache_bytes=0)  # no cache at all
    assert [_answers(store) for store in stores] == want
    assert layout_mod.planner_cache() is None and layout_mod.CACHE_NAME not in memory.stats()["caches"]


def test_the_governor_frees_the_cache_under_pressure(stores: list[Path], fresh_memory: Any) -> None:
    gib = 1024**3
    governor = MemoryGovernor(gib, rss=lambda: 2 * gib, gpu=None, trim=lambda: None)  # always over budget
    memory = fresh_memory(governor=governor)
    want = [_answers(store) for store in stores]
    held = _level(memory)["bytes"]
    assert held > 0
    events = governor.check()
    freed = [e for e in events if e.action == layout_mod.CACHE_NAME]
    assert freed and sum(e.freed_estimate for e in freed) >= held
    assert _level(memory)["entries"] == 0 and _level(memory)["bytes"] == 0
    assert [_answers(store) for store in stores] == want  # rebuilt from the files on disk


def test_settings_change_rebuilds_into_the_new_process_memory(stores: list[Path], fresh_memory: Any) -> None:
    """``engine_memory(config)`` with other sizes is a new process memory: the cache registers there."""
    fresh_memory()
    _answers(stores[0])
    settings = dataclasses.replace(MemorySettings.defaults(), query_l1_entries=3)
    memory = engine_memory(settings)
    assert layout_mod.CACHE_NAME not in memory.stats()["caches"]
    _answers(stores[0])
    assert _level(memory)["entries"] == 2
