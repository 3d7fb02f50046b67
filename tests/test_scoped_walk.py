"""A watcher's changes are re-indexed by walking only the changed paths (issue 15: the next answer
after an edit in a large tree); the result must be what a whole walk gives."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exocortex import Index
from exocortex.config import load_config
from exocortex.sources.files import in_scope, walk_source_files
from exocortex.store.meta import read_manifest, read_meta

TREE = {
    ".gitignore": "gen/\n*.log\n",
    "README.md": "# demo\n",
    "src/app/__init__.py": "",
    "src/app/core.py": "def run():\n    return 1\n",
    "src/app/util/strings.py": "def slug(x):\n    return x\n",
    "src/app/util/.ignore": "generated.py\n",
    "src/app/util/generated.py": "X = 1\n",
    "src/app/data.bin": "\x00\x01",
    "gen/out.py": "print('built')\n",
    "docs/guide.md": "## Guide\n",
    "notes.log": "log line\n",
}


def make_tree(root: Path) -> None:
    for rel, text in TREE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


SCOPES = ["src", "src/app", "src/app/core.py", "src/app/util", "src/app/util/generated.py", "gen",
          "gen/out.py", "notes.log", "docs/guide.md", "missing/file.py", "src/app/data.bin", "README.md"]


@pytest.mark.parametrize("git", [False, True])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scope=st.lists(st.sampled_from(SCOPES), max_size=4))
def test_a_scoped_walk_is_the_whole_walk_within_the_scope(tmp_path: Path, git: bool, scope: list[str]) -> None:
    root = tmp_path / ("git" if git else "plain")
    if not root.exists():
        make_tree(root)
        if git:
            subprocess.run(["git", "init", "-q", str(root)], check=True)
    config = load_config(root)
    whole = walk_source_files(root, config)
    part = walk_source_files(root, config, scope=scope)
    inside = in_scope(scope)
    assert [f.path for f in part.files] == [f.path for f in whole.files if inside(f.path)]
    assert [s.path for s in part.skipped] == [s.path for s in whole.skipped if inside(s.path)]


def indexed_tree(root: Path) -> Index:
    make_tree(root)
    index = Index.open(root)
    index.update()
    return index


def manifest_of(store: Path) -> dict[str, tuple[str, str | None]]:
    table = read_manifest(store, read_meta(store))
    assert table is not None
    rows = table.to_pydict()
    return {p: (h, r) for p, h, r in zip(rows["path"], rows["hash"], rows["skip_reason"], strict=True)}


def test_a_watched_edit_is_indexed_by_a_scoped_walk_as_a_whole_walk_would(tmp_path: Path) -> None:
    root = tmp_path / "r"
    index = indexed_tree(root)
    index.watch()
    try:
        (root / "src/app/core.py").write_text("def run():\n    return 2\n\ndef brand_new_name():\n    return 3\n")
        (root / "src/app/extra").mkdir()
        (root / "src/app/extra/more.py").write_text("def more():\n    return 4\n")
        (root / "docs/guide.md").unlink()
        (root / "gen/ignored.py").write_text("IGNORED = 1\n")
        hits = index.search("brand_new_name", k=5)
        assert hits[0].path == "src/app/core.py"
        assert index.freshness is not None and index.freshness.checked == "watcher"
        last_run = read_meta(index.store).last_run
        assert last_run.get("walk") == "scoped" and last_run["removed"] == 1
        time.sleep(0.3)
        (root / "docs").rmdir()  # a folder removed: nothing left under it
        index.search("more", k=3)
    finally:
        index.stop_watching()
    fresh = Index.open(root, store=tmp_path / "fresh-store")
    fresh.update()
    assert manifest_of(index.store) == manifest_of(fresh.store)
    assert json.dumps(read_meta(index.store).last_run["skipped"], sort_keys=True) == json.dumps(
        read_meta(fresh.store).last_run["skipped"], sort_keys=True)


def test_an_edited_ignore_file_makes_the_walk_whole(tmp_path: Path) -> None:
    root = tmp_path / "r"
    index = indexed_tree(root)
    index.watch()
    try:
        (root / ".gitignore").write_text("*.log\n")  # gen/ is no longer ignored
        hits = index.search("built", k=5)
        assert any(h.path == "gen/out.py" for h in hits)
        assert read_meta(index.store).last_run.get("walk") != "scoped"
    finally:
        index.stop_watching()


def test_when_the_watcher_lost_count_of_changes_the_walk_is_whole(tmp_path: Path) -> None:
    root = tmp_path / "r"
    index = indexed_tree(root)
    index.watch()
    watcher = index._watcher
    assert watcher is not None
    try:
        (root / "src/app/core.py").write_text("def listed_change():\n    return 1\n")
        (root / "docs/guide.md").write_text("## Unlisted change\n")
        assert watcher.settle()
        with watcher._lock:  # as when more changes came than it keeps: it only knows something changed
            watcher._changed = {str(root / "src/app/core.py")}
            watcher._overflow = True
        index.refresh()
        assert read_meta(index.store).last_run.get("walk") != "scoped"
        assert any(h.path == "docs/guide.md" for h in index.search("unlisted change", k=5))
    finally:
        index.stop_watching()


def test_the_manifest_carries_the_files_table_through_incremental_runs(tmp_path: Path) -> None:
    """Each commit's totals and manifest come from the previous sidecar with the changed rows replaced:
    after edits of every kind they must equal the files table itself and a fresh index's totals."""
    from exocortex.store.lance import StoreReader

    root = tmp_path / "r"
    index = indexed_tree(root)
    (root / "src/app/core.py").write_text("def run():\n    return 'changed'\n")
    (root / "src/app/new_module.py").write_text("def added():\n    return 1\n")
    (root / "docs/guide.md").unlink()
    (root / "README.md").write_text((root / "README.md").read_text())  # touched: same bytes, new mtime
    index.update()
    index.watch()
    try:
        (root / "src/app/util/strings.py").write_text("def slug(x):\n    return x.lower()\n")
        index.search("slug lower", k=3)  # a scoped run
    finally:
        index.stop_watching()
    columns = ["path", "size", "mtime_ns", "hash", "skip_reason", "language", "structural", "chunks"]
    sidecar = read_manifest(index.store, read_meta(index.store))
    assert sidecar is not None and set(columns) <= set(sidecar.column_names)
    table = StoreReader(index.store).read("files", columns)
    assert sidecar.select(columns).sort_by("path").to_pylist() == table.sort_by("path").to_pylist()
    fresh = Index.open(root, store=tmp_path / "fresh-store")
    fresh.update()
    assert read_meta(index.store).last_run["summary"] == read_meta(fresh.store).last_run["summary"]
