"""Search data in segments: a commit after a small change reads only the changed files into a
delta, a large change builds a new base, and a kill in the middle of a build loses nothing.

How a view ranks against a full build is tested in ``test_search_incremental.py``; here it is
the layout on disk and the faults around it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from exocortex import Index
from exocortex.search.cache import CACHE_DIRNAME, SEGMENTS_DIRNAME, load_search_data
from exocortex.store.lance import StoreReader


def make_repo(root: Path, files: int = 40, **settings: object) -> Index:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (root / f"mod{i:03d}.py").write_text(textwrap.dedent(f"""
            from mod{(i + 1) % files:03d} import helper_{(i + 1) % files}

            def helper_{i}(value):
                \"\"\"Scale the value of widget {i}.\"\"\"
                return helper_{(i + 1) % files}(value) * {i}

            class Widget{i}:
                def render(self):
                    return helper_{i}(self)
            """))
    index = Index.open(root, **settings)
    index.update()
    return index


def hits(index: Index, query: str) -> list[tuple[str, int, float]]:
    return [(h.path, h.ordinal, h.score) for h in index.search(query, k=10)]


def segments_of(index: Index) -> dict[str, object]:
    return load_search_data(StoreReader(index.store)).segments


def commit_folders(index: Index) -> list[str]:
    return sorted(p.name for p in (index.store / CACHE_DIRNAME).iterdir()
                  if p.name != SEGMENTS_DIRNAME and not p.name.startswith("."))


def test_a_small_change_is_read_into_a_delta_and_ranks_as_a_fresh_index(tmp_path: Path) -> None:
    no_semantic = {"weight_semantic": 0.0, "weight_semantic_file": 0.0}  # its delta uses its base's IDF
    index = make_repo(tmp_path / "r", **no_semantic)
    hits(index, "scale widget")
    base = segments_of(index)["base"]
    (tmp_path / "r" / "mod005.py").write_text("def frobnicate_widgets(value):\n    return helper_6(value)\n")
    (tmp_path / "r" / "mod007.py").unlink()
    (tmp_path / "r" / "extra.py").write_text("import mod005\n\ndef use():\n    return mod005.frobnicate_widgets(1)\n")
    index.update()
    answer = hits(index, "frobnicate widgets scale")
    info = segments_of(index)
    assert info["base"] == base, "the base is kept"
    assert info["delta"] is not None and info["delta_files"] == 2 and info["removed"] == 1
    fresh = make_repo(tmp_path / "fresh", files=0, **no_semantic)
    for path in (tmp_path / "r").glob("*.py"):
        (tmp_path / "fresh" / path.name).write_text(path.read_text())
    fresh.update()
    assert segments_of(fresh)["delta"] is None
    assert answer == hits(fresh, "frobnicate widgets scale")
    # the next change replaces the delta; the base stays
    (tmp_path / "r" / "mod009.py").write_text("def another():\n    return 9\n")
    index.update()
    info = segments_of(index)
    assert info["base"] == base and info["delta_files"] == 3
    assert len(commit_folders(index)) == 1


def test_a_large_change_builds_a_new_base(tmp_path: Path) -> None:
    index = make_repo(tmp_path / "r")
    hits(index, "scale widget")
    base = segments_of(index)["base"]
    index = Index.open(tmp_path / "r", search_delta_min_files=0, search_delta_max_share=0.1)
    for i in range(10):  # a quarter of the files
        (tmp_path / "r" / f"mod{i:03d}.py").write_text(f"def changed_{i}():\n    return {i}\n")
    index.update()
    assert index.search("changed", k=3)
    info = segments_of(index)
    assert info["base"] != base and info["delta"] is None


def test_a_commit_that_changes_no_searchable_file_names_the_base_alone(tmp_path: Path) -> None:
    index = make_repo(tmp_path / "r")
    before = hits(index, "scale widget")
    base = segments_of(index)["base"]
    (tmp_path / "r" / "notes.bin").write_bytes(b"\x00\x01\x02" * 100)  # skipped: binary
    index.update()
    assert hits(index, "scale widget") == before
    assert segments_of(index) == {"base": base, "delta": None, "delta_files": 0, "removed": 0}


KILLED_BUILD = """
import sys, time
from pathlib import Path
import exocortex.search.segment as segment
from exocortex import Index

real = segment.build_segment

def slow(rows, folder, name):
    real(rows, folder, name)
    Path(sys.argv[2]).write_text(str(folder))  # the segment is half-way: written, not yet renamed
    time.sleep(60)

segment.build_segment = slow
import exocortex.search.cache as cache
cache.build_segment = slow
Index.open(sys.argv[1]).search("scale widget")
"""


def test_a_kill_in_the_middle_of_a_segment_build_loses_nothing(tmp_path: Path) -> None:
    index = make_repo(tmp_path / "r")
    before = hits(index, "scale widget")
    old_folders = commit_folders(index)
    (tmp_path / "r" / "mod003.py").write_text("def scale_widget_fast(value):\n    return value\n")
    index.refresh()  # commits without building the search data (update would build it here)
    marker = tmp_path / "building"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(tmp_path / "r"), str(marker)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline, "the build never reached its segment"
            time.sleep(0.02)
        half = Path(marker.read_text())
        assert half.name.startswith(".build-") and half.is_dir()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Nothing half-written is visible under a real name: the previous commit's folder is whole.
    assert commit_folders(index) == old_folders
    segments = index.store / CACHE_DIRNAME / SEGMENTS_DIRNAME
    for folder in segments.iterdir():
        if not folder.name.startswith("."):
            assert (folder / "done").is_file()
    # The next search (a new process would do the same) builds the commit and answers it.
    after = index.search("scale_widget_fast", k=30)
    assert ("mod003.py", "scale_widget_fast") in [(h.path, h.symbol) for h in after]
    assert hits(index, "scale widget") != before  # the edit is in the answer


def test_a_reader_of_the_previous_commit_keeps_working_while_the_next_is_built(tmp_path: Path) -> None:
    index = make_repo(tmp_path / "r")
    hits(index, "scale widget")
    old = load_search_data(StoreReader(index.store))
    expected = old.chunks.score({"scale": 1.0, "widget": 1.0})
    (tmp_path / "r" / "mod001.py").write_text("def renamed():\n    return 1\n")
    index.update()
    new = load_search_data(StoreReader(index.store))
    assert new.segments["delta"] is not None
    # the old commit's folder is gone from disk, yet what the old reader mapped is intact
    docs, scores = old.chunks.score({"scale": 1.0, "widget": 1.0})
    assert np.array_equal(docs, expected[0]) and np.array_equal(scores, expected[1])


def test_search_data_of_an_older_format_is_replaced(tmp_path: Path) -> None:
    index = make_repo(tmp_path / "r")
    old = index.store / CACHE_DIRNAME / "f4-0123456789abcdef"
    (old / "chunks").mkdir(parents=True)
    (old / "done").write_text(json.dumps({"files": {}}))
    assert hits(index, "scale widget")
    assert not old.exists()


def test_a_damaged_delta_is_built_again(tmp_path: Path) -> None:
    index = make_repo(tmp_path / "r")
    hits(index, "scale widget")
    (tmp_path / "r" / "mod002.py").write_text("def quarantined_gadget():\n    return 2\n")
    index.update()
    expected = hits(index, "quarantined gadget")
    delta = index.store / CACHE_DIRNAME / SEGMENTS_DIRNAME / str(segments_of(index)["delta"])
    victim = max((p for p in delta.rglob("*.npy")), key=lambda p: p.stat().st_size)
    victim.write_bytes(victim.read_bytes()[:-5])
    script = ("import sys; from exocortex import Index; "
              "hits = Index.open(sys.argv[1]).search('quarantined gadget', k=10); "
              "print([(h.path, h.ordinal, h.score) for h in hits])")
    env = {**os.environ, "EXOCORTEX_ANSWER_CACHE_MAX_BYTES": "0"}  # search, not a remembered answer
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "r")], capture_output=True, text=True,
                         timeout=120, check=True, env=env)
    assert out.stdout.strip() == repr(expected)
    assert "damaged" in out.stderr


def test_an_update_brings_the_search_data_along_once_it_exists(tmp_path: Path) -> None:
    from exocortex.search.cache import search_data_state
    from exocortex.store.meta import read_meta

    index = make_repo(tmp_path / "r")
    # never searched: an update leaves the first build to the first search
    assert not search_data_state(index.store, read_meta(index.store))["built"]
    hits(index, "scale widget")
    (tmp_path / "r" / "mod004.py").write_text("def eager_delta():\n    return 4\n")
    index.update()
    state = search_data_state(index.store, read_meta(index.store))
    assert state["built"] and state["delta_files"] == 1  # built by the update, before any search


def test_an_update_under_new_index_settings_leaves_the_new_base_to_the_first_search(tmp_path: Path) -> None:
    from exocortex.search.cache import search_data_state
    from exocortex.store.meta import read_meta

    index = make_repo(tmp_path / "r")
    hits(index, "scale widget")
    other = Index.open(tmp_path / "r", max_chunk_lines=3)  # another chunking: every row is written again
    other.update()
    assert not search_data_state(other.store, read_meta(other.store))["built"]
    assert other.search("scale widget", k=3)  # the first search builds the new base
    assert search_data_state(other.store, read_meta(other.store))["delta"] is None


def test_a_verified_segment_is_hashed_again_only_where_a_file_was_written(tmp_path: Path, monkeypatch) -> None:
    from exocortex.search import cache

    index = make_repo(tmp_path / "r", files=8)
    hits(index, "scale widget")
    (base,) = [p for p in (index.store / CACHE_DIRNAME / SEGMENTS_DIRNAME).iterdir()
               if not p.name.startswith("vectors-")]
    hashed: list[str] = []
    digest = cache._file_digest
    monkeypatch.setattr(cache, "_file_digest", lambda path: hashed.append(path.name) or digest(path))
    assert cache.folder_damage(base) is None and hashed == []  # verified when it was written
    victim = max(base.rglob("*.npy"), key=lambda p: p.stat().st_size)
    victim.write_bytes(victim.read_bytes())  # the same bytes, written again: checked again
    assert cache.folder_damage(base) is None and hashed == [victim.name]
    assert cache.folder_damage(base) is None and hashed == [victim.name]  # ... once
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    assert cache.folder_damage(base) == f"{victim.relative_to(base).as_posix()} was changed"
