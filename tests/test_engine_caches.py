"""The caches the layers above memory keep are memory levels: bounded, visible in the engine's
stats (and so in ``exocortex status`` and the MCP ``index_status``), and freed by the governor."""

from __future__ import annotations

from pathlib import Path

from exocortex.api import Index
from exocortex.memory.engine import engine_memory
from exocortex.pack.render import count_memo
from exocortex.search.cache import _held as search_data_held


def _release_all(name: str) -> int:
    """Run the governor's releaser registered as ``name`` as a check under pressure would: free everything."""
    governor = engine_memory().governor
    releaser = next(r for r in governor._releasers if r.name == name)
    release = releaser.call()
    assert release is not None
    return int(release(1 << 40))


def _level(name: str) -> dict[str, int]:
    cache = engine_memory().stats()["caches"][name]
    return dict(next(iter(cache["levels"].values())))


def test_search_data_is_held_in_a_governed_cache(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    index.update()
    search_data_held().clear()  # empty of the stores other tests of this process searched
    index.search("slugify")
    held = _level("search-data")
    assert held["entries"] == 1 and held["bytes"] > 0
    # The governor's releaser frees it (as under memory pressure), and the next search loads it again.
    assert "search-data" in engine_memory().governor.releasers("cache")
    assert _release_all("search-data") >= held["bytes"]
    assert _level("search-data")["entries"] == 0
    assert index.search("make a user")[0].path == "app/models.py"  # a new question: not a cached result
    assert _level("search-data")["entries"] == 1


def test_a_new_commit_replaces_the_held_search_data(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    index.update()
    index.search("slugify")
    (sample_repo / "app" / "extra.py").write_text("def extra_thing():\n    return 1\n")
    index.search("extra_thing")  # refreshes first: a new commit, so new search data
    held = engine_memory().registered["search-data"].levels[0].keys()
    mine = [key for key in held if key[0] == str(index.store)]
    assert len(mine) == 1  # the older commit of this store was dropped, not kept beside the new one


def test_token_counts_are_a_bounded_governed_cache(sample_repo: Path) -> None:
    index = Index.open(sample_repo, pack_count_memo_entries=3)
    index.update()
    index.pack("how is a slug made", 4000)
    counts = _level("token-counts")
    assert 0 < counts["entries"] <= 3 and counts["bytes"] > 0
    assert count_memo(3)._counts is engine_memory().registered["token-counts"]
