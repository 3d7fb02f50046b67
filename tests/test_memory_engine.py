"""The engine's own memory: query and parsed-file caches through the memory layer, the governor
over them, their sizes from configuration, and `exocortex status` showing them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from exocortex.api import Index
from exocortex.cli import main
from exocortex.config import load_config
from exocortex.errors import ConfigError, NoMatchesError
from exocortex.memory.engine import EngineMemory, MemorySettings, deep_size, engine_memory
from exocortex.search.hits import SearchHit


def _queries(index: Index) -> dict[str, object]:
    stats = index.memory_stats()["caches"]["queries"]
    assert stats is not None
    return stats


def test_a_repeated_search_is_served_from_the_query_cache(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    index.update()
    before = _queries(index)
    first = index.search("slugify user name", k=5)
    second = index.search("slugify user name", k=5)
    after = _queries(index)
    assert first == second and first
    assert after["requests"] == before["requests"] + 2  # type: ignore[operator]
    assert sum(after["hits"].values()) == sum(before["hits"].values()) + 1  # type: ignore[attr-defined]
    assert after["misses"] == before["misses"] + 1  # type: ignore[operator]
    # A different k is a different question: never answered from the k=5 entry.
    assert len(index.search("slugify user name", k=1)) == 1


def test_an_edit_and_reindex_is_never_served_a_stale_ranking(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    index.update()
    with pytest.raises(NoMatchesError):  # nothing matches yet
        index.search("zebra stripes", k=5)
    (sample_repo / "app" / "zebra.py").write_text("def zebra_stripes():\n    return 'zebra stripes'\n")
    index.update()
    assert index.search("zebra stripes", k=5)[0].path == "app/zebra.py"


def test_pack_goes_through_the_same_cache(sample_repo: Path) -> None:
    index = Index.open(sample_repo, answer_cache_max_bytes=0)  # no L3: a repeated pack is read from disk whole
    index.update()
    before = _queries(index)["requests"]
    one = index.pack("how are users greeted", budget=2000)
    two = index.pack("how are users greeted", budget=2000)
    assert one.text == two.text
    after = _queries(index)
    assert after["requests"] == before + 2  # type: ignore[operator]


def test_sizes_come_from_the_configuration(sample_repo: Path) -> None:
    index = Index.open(sample_repo, query_cache_l1_entries=7, query_cache_l2_entries=0, parsed_cache_bytes=1234)
    stats = index.memory_stats()
    levels = stats["caches"]["queries"]["levels"]
    assert list(levels) == ["L1"] and levels["L1"]["max_entries"] == 7
    assert stats["caches"]["parsed_files"]["levels"]["parsed"]["max_bytes"] == 1234
    assert {"query-cache", "parsed-files"} <= {r["name"] for r in stats["governor"]["releasers"]}
    off = Index.open(sample_repo, query_cache_l1_entries=0, query_cache_l2_entries=0)
    assert off.memory_stats()["caches"]["queries"] is None
    off.update()
    assert off.search("slugify", k=3)  # searching works with the cache off


def test_the_memory_budget_and_level_are_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXOCORTEX_MEMORY_BUDGET", "3GiB")
    config = load_config(tmp_path, memory_level="aggressive")
    memory = engine_memory(config)
    assert memory.governor.budget == 3 * 1024**3
    assert memory.governor.level == "aggressive"
    monkeypatch.setenv("EXOCORTEX_MEMORY_BUDGET", "lots")
    with pytest.raises(ConfigError, match="memory_budget"):
        load_config(tmp_path)
    monkeypatch.delenv("EXOCORTEX_MEMORY_BUDGET")
    with pytest.raises(ConfigError, match="unknown memory_level 'frantic'"):
        load_config(tmp_path, memory_level="frantic")
    with pytest.raises(ConfigError, match="query_cache_l1_bytes must not be negative"):
        load_config(tmp_path, query_cache_l1_bytes=-1)


def test_the_governor_can_empty_the_engine_caches() -> None:
    memory = EngineMemory(dataclasses.replace(MemorySettings.defaults(), query_l1_entries=10, query_l2_entries=10))
    hit = SearchHit("a.py", 0, "f", "function", (1, 2), 1.0, {"bm25": 1.0})
    for i in range(15):
        memory.search(("k", i), lambda: [hit])
    assert memory.queries is not None and len(memory.queries) == 15
    freed = sum(release(10**9) for release in _releasers(memory, "cache"))
    assert freed >= 15 * deep_size([hit]) and len(memory.queries) == 0


def _releasers(memory: EngineMemory, kind: str) -> list:  # type: ignore[type-arg]
    from exocortex.memory.cache import MultiLevelCache
    from exocortex.memory.governor import cache_releaser

    caches = {"cache": memory.queries, "parsed": memory.parsed}
    cache = caches[kind]
    assert isinstance(cache, MultiLevelCache)
    return [cache_releaser(cache)]


def test_identical_files_are_parsed_once_through_the_parsed_cache(sample_repo: Path) -> None:
    body = (sample_repo / "app" / "util.py").read_text()
    for i in range(3):
        (sample_repo / f"copy{i}.py").write_text(body)
    index = Index.open(sample_repo, workers=1)
    report = index.update()
    assert report.reused >= 3
    parsed = index.memory_stats()["caches"]["parsed_files"]
    assert parsed["requests"] >= 4 and sum(parsed["hits"].values()) >= 3


def test_status_shows_the_memory(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", str(sample_repo)]) == 0
    capsys.readouterr()
    assert main(["status", str(sample_repo), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    memory = data["memory"]
    assert memory["governor"]["budget"] > 0 and memory["governor"]["rss"] > 0
    assert set(memory["caches"]) == {"queries", "parsed_files", "answers"}
    assert memory["caches"]["answers"]["levels"]["L3"]["entries"] == 0  # nothing asked yet
    tiers = memory["vector_tiers"]  # this process's: what earlier semantic searches in it loaded, if any
    assert tiers is None or set(tiers) >= {"hot", "warm", "cold", "device", "stores"}
    assert main(["status", str(sample_repo)]) == 0
    out = capsys.readouterr().out
    assert "memory (this process)" in out and "cache queries" in out and "vector tiers" in out
    assert "cache answers" in out


def test_deep_size_of_a_long_list_is_its_sampled_items_scaled() -> None:
    import sys

    from exocortex.memory import engine as engine_mod
    from exocortex.search.hits import SearchHit

    hits = [SearchHit(path=f"pkg/module_{i}.py", ordinal=i, symbol=f"function_{i}" * (1 + i % 3), kind="function",
                      lines=(i, i + 10), score=1.0 / (i + 1), signals={"bm25": 1.0, "pagerank": 0.5})
            for i in range(1000)]
    exact = sys.getsizeof(hits) + sum(engine_mod.deep_size(h) for h in hits)
    estimate = engine_mod.deep_size(hits)
    assert abs(estimate - exact) <= 0.05 * exact
    short = hits[: engine_mod.SIZE_SAMPLE]  # short lists are measured item by item
    assert engine_mod.deep_size(short) == sys.getsizeof(short) + sum(engine_mod.deep_size(h) for h in short)
