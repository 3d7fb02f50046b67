"""The persistent L3 of answers (``<store>/answers``): a question repeated in a new process is answered
from disk, never stale, and nothing about the cache can fail an answer.

The proof that an answer came from the L3 is the search data folder (``<store>/search``): it is
removed after the first answer, and a search or pack that really searched builds it again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from exocortex import Index
from exocortex.config import Config, settings_fingerprint
from exocortex.memory.answers import ANSWERS_DIRNAME, AnswerCache
from exocortex.memory.disk import CorruptEntryError, DiskLevel, read_entry
from exocortex.memory.policies import MISSING

EXE = str(Path(sys.executable).parent / "exocortex")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOCORTEX_")}
    env.update(extra)
    return env


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([EXE, *args], capture_output=True, text=True, env=_env(**env), timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def _search(repo: Path, query: str, **env: str) -> dict[str, Any]:
    return json.loads(_cli("search", query, "-C", str(repo), "--json", **env).stdout)


def _entries(store: Path) -> list[Path]:
    return sorted((store / ANSWERS_DIRNAME).rglob("*.xc"))


@pytest.fixture
def indexed(sample_repo: Path) -> tuple[Path, Path]:
    index = Index.open(sample_repo)
    index.update()
    return sample_repo, index.store


def test_a_repeated_search_in_a_new_process_is_answered_from_disk(indexed: tuple[Path, Path]) -> None:
    repo, store = indexed
    first = _search(repo, "slugify the user name")
    assert first["results"] and _entries(store)
    shutil.rmtree(store / "search")  # what a search that really searched needs, and builds again
    asked = time.time()
    second = _search(repo, "slugify the user name")
    assert second["results"] == first["results"]
    assert not (store / "search").exists(), "the second answer searched again instead of reading the L3"
    # The answer's freshness is this call's, not the cached answer's.
    assert second["index"]["checked"] == "scan" and second["index"]["updated_at"] >= asked - 1
    status = json.loads(_cli("status", str(repo), "--json").stdout)
    level = status["memory"]["caches"]["answers"]["levels"]["L3"]
    assert level["entries"] == len(_entries(store)) >= 1 and level["bytes"] > 0
    assert level["max_bytes"] == Config().answer_cache_max_bytes


def test_a_repeated_pack_in_a_new_process_is_answered_from_disk(indexed: tuple[Path, Path]) -> None:
    repo, store = indexed
    args = ("pack", "make a user and slugify the name", "-C", str(repo), "--budget", "2k", "--format", "json")
    first = json.loads(_cli(*args).stdout)
    shutil.rmtree(store / "search")
    second = json.loads(_cli(*args).stdout)
    assert not (store / "search").exists(), "the second pack searched again instead of reading the L3"
    assert second["text"] == first["text"] and second["items"] == first["items"] and second["tokens"] == first["tokens"]
    assert second["index"]["checked"] == "scan" and second["index"]["updated_at"] >= first["index"]["updated_at"]
    # Another budget is another answer: it searches.
    json.loads(_cli(*args[:-4], "--budget", "3k", "--format", "json").stdout)
    assert (store / "search").exists()


def test_an_edit_is_never_answered_from_the_old_commit(indexed: tuple[Path, Path]) -> None:
    repo, store = indexed
    before = _search(repo, "frobnicate the user")
    assert all(hit["path"] != "app/widget.py" for hit in before["results"])
    old_folders = sorted(p.name for p in (store / ANSWERS_DIRNAME).iterdir())
    (repo / "app" / "widget.py").write_text("def frobnicate(user):\n    return user.frobnicate()\n")
    after = _search(repo, "frobnicate the user")
    assert "app/widget.py" in [hit["path"] for hit in after["results"]]
    assert after["index"]["changed_files"] == 1
    folders = sorted(p.name for p in (store / ANSWERS_DIRNAME).iterdir())
    assert len(folders) == 1 and folders != old_folders, "the old commit's answers are dropped"


def test_another_setting_is_another_answer(indexed: tuple[Path, Path]) -> None:
    repo, store = indexed
    _search(repo, "slugify the user name")
    shutil.rmtree(store / "search")
    _search(repo, "slugify the user name", EXOCORTEX_WEIGHT_PAGERANK="0.1")
    assert (store / "search").exists(), "an answer made with other settings was served"


def test_a_damaged_entry_is_a_miss_and_is_replaced(indexed: tuple[Path, Path]) -> None:
    repo, store = indexed
    first = _search(repo, "slugify the user name")
    for entry in _entries(store):
        data = bytearray(entry.read_bytes())
        data[-3] ^= 0xFF  # a flipped byte in the payload: the checksum no longer matches
        entry.write_bytes(bytes(data))
    shutil.rmtree(store / "search")
    second = _search(repo, "slugify the user name")
    assert second["results"] == first["results"]
    assert (store / "search").exists(), "the damaged entry was not a miss"
    shutil.rmtree(store / "search")
    assert _search(repo, "slugify the user name")["results"] == first["results"]
    assert not (store / "search").exists(), "the damaged entry was not replaced by a good one"


def test_a_locked_l3_still_answers_and_is_still_read(indexed: tuple[Path, Path]) -> None:
    repo, store = indexed
    first = _search(repo, "slugify the user name")
    (folder,) = (store / ANSWERS_DIRNAME).iterdir()
    with DiskLevel(folder):  # another writer holds the folder (its flock)
        shutil.rmtree(store / "search")
        assert _search(repo, "slugify the user name")["results"] == first["results"]  # read without the lock
        assert not (store / "search").exists()
        count = len(_entries(store))
        other = _search(repo, "greet another user")  # a miss: answered, its write skipped
        assert other["results"] and len(_entries(store)) == count


def test_two_processes_at_once_both_answer(indexed: tuple[Path, Path]) -> None:
    repo, _ = indexed
    queries = ["slugify the user name", "greet another user", "fetch json client", "make user"]
    _search(repo, queries[0])  # the search data exists (concurrent first builds are not this test's subject)
    procs = [subprocess.Popen([EXE, "search", q, "-C", str(repo), "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env()) for q in queries]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * len(queries), [err for _, err in outs]
    index = Index.open(repo)
    for query, (out, _) in zip(queries, outs, strict=True):
        expected = [{"path": h.path, "symbol": h.symbol, "kind": h.kind, "lines": list(h.lines), "score": h.score,
                     "signals": h.signals} for h in index.search(query)]
        assert json.loads(out)["results"] == expected


def test_a_read_only_store_answers_without_l3(indexed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    repo, store = indexed
    real_access = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:  # a read-only mount, as root sees it
        if Path(path) == store and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    index = Index.open(repo, query_cache_l1_entries=0, query_cache_l2_entries=0)
    assert index.search("slugify the user name")
    assert index.pack("slugify the user name", 2000).tokens <= 2000
    assert not (store / ANSWERS_DIRNAME).exists()
    assert index.memory_stats()["caches"]["answers"] is None


def test_answers_folder_that_cannot_be_written_still_answers(indexed: tuple[Path, Path]) -> None:
    repo, store = indexed
    (store / ANSWERS_DIRNAME).write_text("not a folder")
    index = Index.open(repo, query_cache_l1_entries=0, query_cache_l2_entries=0)
    hits = index.search("slugify the user name")
    assert hits == index.search("slugify the user name")
    stats = index.memory_stats()["caches"]["answers"]
    assert stats["errors"] >= 1 and stats["hits"]["L3"] == 0


def test_the_bounds_hold(indexed: tuple[Path, Path]) -> None:
    repo, store = indexed
    bound = 3000
    index = Index.open(repo, query_cache_l1_entries=0, query_cache_l2_entries=0, answer_cache_max_bytes=bound)
    queries = ["slugify the user name", "greet another user", "fetch json client", "make user", "ping", "guide"]
    for query in queries:
        index.search(query)
    (folder,) = (store / ANSWERS_DIRNAME).iterdir()
    with DiskLevel(folder, max_entries=10_000, max_bytes=1 << 30) as level:  # bounds that evict nothing
        assert 0 < level.bytes <= bound and 0 < len(level) < len(queries)
    index = Index.open(repo, query_cache_l1_entries=0, query_cache_l2_entries=0, answer_cache_max_entries=2)
    for query in queries:
        index.search(query)
    assert len(_entries(store)) == 2
    index = Index.open(repo, query_cache_l1_entries=0, query_cache_l2_entries=0, answer_cache_max_bytes=10)
    assert index.pack("slugify the user name", 2000).tokens <= 2000  # larger than the whole bound: not kept
    assert index.memory_stats()["caches"]["answers"]["skipped_oversize"] >= 1


def test_zero_turns_it_off(indexed: tuple[Path, Path]) -> None:
    repo, store = indexed
    index = Index.open(repo, answer_cache_max_bytes=0)
    assert index.search("slugify the user name")
    assert not (store / ANSWERS_DIRNAME).exists() and index.memory_stats()["caches"]["answers"] is None


def test_the_settings_fingerprint_is_stable_between_processes_and_sees_every_setting() -> None:
    code = "from exocortex.config import Config, settings_fingerprint; print(settings_fingerprint(Config()))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(PYTHONHASHSEED="7"),
                           check=True).stdout.strip()
    assert other == settings_fingerprint(Config())
    assert settings_fingerprint(Config(weight_bm25=0.9)) != other
    assert settings_fingerprint(Config(pack_whole_files=2)) != other
    assert settings_fingerprint(Config(index_tokenizers=("o200k_base", "cl100k_base"))) != other


def test_read_entry_without_the_level(tmp_path: Path) -> None:
    from exocortex.memory.cache import Record

    with DiskLevel(tmp_path / "c", durable=False) as level:
        level.set(("k", 1), Record({"a": [1, 2.5, "x"]}, None, 1))
        level.set(("k", 2), Record("two", None, 1))
        assert read_entry(tmp_path / "c", ("k", 1)).value == {"a": [1, 2.5, "x"]}  # type: ignore[union-attr]
    assert read_entry(tmp_path / "c", ("k", 3)) is MISSING
    assert read_entry(tmp_path / "nowhere", ("k", 1)) is MISSING
    (entry,) = [p for p in (tmp_path / "c").rglob("*.xc") if p.read_bytes().endswith(b"two")]
    entry.write_bytes(entry.read_bytes()[:-1] + b"X")
    with pytest.raises(CorruptEntryError):
        read_entry(tmp_path / "c", ("k", 2))
    # A shard replaced by a symlink is not followed out of the directory.
    outside = tmp_path / "outside"
    shutil.copytree(entry.parent, outside)
    shutil.rmtree(entry.parent)
    entry.parent.symlink_to(outside)
    assert read_entry(tmp_path / "c", ("k", 2)) is MISSING


def test_answer_cache_counts_and_drops_other_commits(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "answers", max_bytes=1 << 20, max_entries=100)
    assert cache.get("c1", ("q",)) is None
    assert cache.put("c1", [(("q",), [1, 2]), (("r",), "x")]) == 2
    assert cache.get("c1", ("q",)) == [1, 2]
    assert cache.put("c2", [(("q",), [3])]) == 1
    assert [p.name for p in (tmp_path / "answers").iterdir()] == ["c2"]
    assert cache.get("c1", ("q",)) is None and cache.get("c2", ("q",)) == [3]
    stats = cache.stats()
    assert stats["requests"] == 4 and stats["hits"] == {"L3": 2} and stats["misses"] == 2
    assert stats["writes"] == 3 and stats["removed_commits"] == 1 and stats["levels"]["L3"]["entries"] == 1
