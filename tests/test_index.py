"""The index run: contents, incremental updates, crash safety, locking, readers during writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exocortex.indexing.plan as plan_module
import exocortex.indexing.run as run_module
from exocortex import Index
from exocortex.errors import (
    IndexNotFoundError,
    SchemaVersionError,
    StoreCorruptError,
    StoreLockedError,
    WorkerCrashedError,
)
from exocortex.store.lance import StoreReader
from exocortex.store.meta import writer_lock
from exocortex.tokens import count_tokens

from .conftest import SAMPLE_FILES, store_locked_by_another_process, write_tree


def snapshot(store: Path) -> dict[str, Any]:
    """Everything the store holds, order-independent, without stat columns."""
    reader = StoreReader(store)
    out: dict[str, Any] = {}
    for name in ("files", "chunks", "symbols"):
        rows = reader.read(name).to_pylist()
        for row in rows:
            row.pop("mtime_ns", None)
        out[name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def test_index_contents(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    report = index.update()
    assert report.files == len(SAMPLE_FILES)
    assert report.processed == len(SAMPLE_FILES)
    assert (sample_repo / ".exocortex" / "meta.json").is_file()

    reader = StoreReader(index.store)
    chunks = reader.read("chunks").to_pylist()
    by_symbol = {c["symbol"]: c for c in chunks}
    method = by_symbol["User.slug"]
    assert method["path"] == "app/models.py"
    assert method["kind"] == "method"
    source_lines = (sample_repo / "app/models.py").read_text().splitlines(keepends=True)
    assert method["text"] == "".join(source_lines[method["start_line"] - 1 : method["end_line"]])
    for chunk in chunks:  # exact token counts stored per chunk
        assert chunk["tokens_o200k"] == count_tokens(chunk["text"], "o200k_base")
        assert chunk["tokens_cl100k"] is None  # not configured

    files = {f["path"]: f for f in reader.read("files").to_pylist()}
    assert files["app/models.py"]["language"] == "python"
    assert files["app/models.py"]["structural"] is True
    assert files["notes.txt"]["structural"] is False
    assert files["docs/guide.md"]["structural"] is True
    skeleton = files["app/models.py"]["skeleton"]
    assert "def slug(self) -> str:" in skeleton and "return slugify" not in skeleton
    assert files["app/models.py"]["skeleton_tokens_o200k"] == count_tokens(skeleton)
    assert "slugify" in files["app/models.py"]["references"]
    assert ".util" in files["app/models.py"]["imports"]
    symbols = {(s["path"], s["name"]): s for s in reader.read("symbols").to_pylist()}
    user = symbols[("app/models.py", "User")]
    assert user["kind"] == "class"
    assert user["end_line"] >= by_symbol["User.greet"]["end_line"]  # full extent

    status = index.status()
    assert status.files == len(SAMPLE_FILES)
    assert status.chunks == len(chunks)
    assert status.tokens == sum(c["tokens_o200k"] for c in chunks)
    assert status.languages["python"] == 2
    assert status.structural_files == 4
    assert status.store_bytes > 0
    assert [row["path"] for row in index.unstructured_files()] == ["notes.txt"]


def test_both_tokenizers_can_be_stored(sample_repo: Path) -> None:
    index = Index.open(sample_repo, index_tokenizers=("o200k_base", "cl100k_base"))
    index.update()
    for chunk in StoreReader(index.store).read("chunks").to_pylist():
        assert chunk["tokens_cl100k"] == count_tokens(chunk["text"], "cl100k_base")


class Spy:
    """Records which paths were hashed and which were processed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hashed: list[str] = []
        self.processed: list[str] = []
        real_hash = plan_module.hash_file
        real_batch = run_module.process_batch

        def hash_file(root: str, path: str, max_bytes: int) -> str | None:
            self.hashed.append(path)
            return real_hash(root, path, max_bytes)

        def process_batch(opts: Any, jobs: list[Any]) -> Any:
            self.processed += [j.path for j in jobs]
            return real_batch(opts, jobs)

        monkeypatch.setattr(plan_module, "hash_file", hash_file)
        monkeypatch.setattr(run_module, "process_batch", process_batch)

    def reset(self) -> None:
        self.hashed.clear()
        self.processed.clear()


def test_incremental_runs_touch_only_what_changed(sample_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    index = Index.open(sample_repo, workers=1)
    index.update()
    assert sorted(spy.processed) == sorted(SAMPLE_FILES)

    spy.reset()
    report = index.update()
    assert (report.processed, report.unchanged, report.removed) == (0, len(SAMPLE_FILES), 0)
    assert spy.hashed == [] and spy.processed == []  # unchanged files are not even read

    spy.reset()
    util = sample_repo / "app/util.py"
    util.write_text(util.read_text() + "\n\ndef extra():\n    return 2\n")
    (sample_repo / "web/new.js").write_text("export function added() { return 1 }\n")
    (sample_repo / "notes.txt").unlink()
    st_ = (sample_repo / "docs/guide.md").stat()
    os.utime(sample_repo / "docs/guide.md", ns=(st_.st_atime_ns, st_.st_mtime_ns + 5_000_000_000))
    report = index.update()
    assert (report.added, report.changed, report.removed, report.touched) == (1, 1, 1, 1)
    assert sorted(spy.processed) == ["app/util.py", "web/new.js"]
    assert spy.hashed == ["docs/guide.md"]  # size unchanged, mtime changed: hashed, not re-processed

    names = {s["name"] for s in StoreReader(index.store).read("symbols").to_pylist()}
    assert {"extra", "added"} <= names

    fresh = Index.open(sample_repo, store=sample_repo.parent / "fresh")
    fresh.update()
    assert snapshot(index.store) == snapshot(fresh.store)

    spy.reset()
    report = index.update()
    assert report.processed == 0 and spy.hashed == []  # the touched file's new mtime was recorded


EDIT = st.tuples(
    st.sampled_from(["add", "modify", "delete", "touch"]),
    st.integers(min_value=0, max_value=7),
    st.sampled_from(["def f{n}():\n    return {n}\n", "class C{n}:\n    def m(self):\n        pass\n", "# note {n}\n"]),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.lists(EDIT, min_size=1, max_size=4), min_size=1, max_size=3))
def test_incremental_equals_fresh(tmp_path_factory: pytest.TempPathFactory, steps: list[list[Any]]) -> None:
    base = tmp_path_factory.mktemp("prop")
    root = base / "repo"
    write_tree(root, SAMPLE_FILES)
    index = Index.open(root, store=base / "store", workers=1)
    index.update()
    counter = 0
    for step in steps:
        for action, slot, template in step:
            counter += 1
            path = root / ("pkg" if slot % 2 else "lib") / f"m{slot}.py"
            body = template.format(n=counter)
            if action == "add" or (action == "modify" and not path.exists()):
                path.parent.mkdir(exist_ok=True)
                path.write_text(body)
            elif action == "modify":
                path.write_text(path.read_text() + body)
            elif action == "delete" and path.exists():
                path.unlink()
            elif action == "touch" and path.exists():
                st_ = path.stat()
                os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000 * counter))
        index.update()
        fresh_store = base / f"fresh{counter}"
        Index.open(root, store=fresh_store, workers=1).update()
        assert snapshot(index.store) == snapshot(fresh_store)


def test_parallel_workers_give_the_same_index(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    files = {f"pkg{i % 7}/mod{i}.py": f"def f{i}(x):\n    return x + {i}\n\n\nclass K{i}:\n    pass\n" * 40
             for i in range(120)}
    write_tree(root, files)
    serial = Index.open(root, store=tmp_path / "serial", workers=1)
    serial.update()
    parallel = Index.open(root, store=tmp_path / "parallel", workers=2, inline_max_bytes=0, worker_batch_files=8)
    calls: list[int] = []
    real_pool = run_module.cf.ProcessPoolExecutor

    def pool(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["max_workers"])
        return real_pool(*args, **kwargs)

    run_module.cf.ProcessPoolExecutor = pool  # type: ignore[misc]
    try:
        parallel.update()
    finally:
        run_module.cf.ProcessPoolExecutor = real_pool  # type: ignore[misc]
    assert calls == [2]  # the worker pool really ran
    assert snapshot(serial.store) == snapshot(parallel.store)


def test_identical_contents_are_analysed_once(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    body = "def shared():\n    return 1\n"
    write_tree(root, {f"copy{i}/same.py": body for i in range(5)})
    report = Index.open(root, workers=1).update()
    assert report.files == 5 and report.reused == 4
    chunks = StoreReader(root / ".exocortex").read("chunks").to_pylist()
    assert sorted(c["path"] for c in chunks) == [f"copy{i}/same.py" for i in range(5)]
    for c in chunks:  # the shared analysis still gives each copy its own path terms
        folder = c["path"].split("/")[0]
        assert folder in c["term_list"] and "shared" in c["term_list"]
        assert not any(f"copy{i}" in c["term_list"] for i in range(5) if f"copy{i}" != folder)


def test_identical_contents_with_different_languages_are_analysed_apart(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    body = "def shared():\n    return 1\n"
    write_tree(root, {"code.py": body, "notes.txt": body})
    Index.open(root, workers=1).update()
    files = {f["path"]: f for f in StoreReader(root / ".exocortex").read("files").to_pylist()}
    assert (files["code.py"]["language"], files["code.py"]["structural"]) == ("python", True)
    assert (files["notes.txt"]["language"], files["notes.txt"]["structural"]) == (None, False)


def test_crash_before_commit_keeps_previous_index(sample_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = Index.open(sample_repo, workers=1)
    index.update()
    before = snapshot(index.store)

    (sample_repo / "app/util.py").write_text("def replaced():\n    pass\n")
    (sample_repo / "app/models.py").unlink()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("simulated crash before commit")

    import exocortex.store.lance as lance_module

    monkeypatch.setattr(lance_module.StoreWriter, "commit", boom)
    with pytest.raises(RuntimeError):
        index.update()
    assert snapshot(index.store) == before  # readers still see the last commit
    monkeypatch.undo()

    index.update()
    fresh = Index.open(sample_repo, store=sample_repo.parent / "fresh")
    fresh.update()
    assert snapshot(index.store) == snapshot(fresh.store)


def test_killed_run_leaves_previous_index(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, SAMPLE_FILES)
    store = tmp_path / "store"
    Index.open(root, store=store).update()
    before = snapshot(store)
    # A big change set, then SIGKILL the writer once it has started appending.
    write_tree(root, {f"gen/m{i}.py": f"def g{i}():\n    return {i}\n" * 200 for i in range(300)})
    code = textwrap.dedent(
        f"""
        import os, signal
        import exocortex.store.lance as lance
        real = lance.StoreWriter.append
        def append(self, name, rows):
            real(self, name, rows)
            os.kill(os.getpid(), signal.SIGKILL)
        lance.StoreWriter.append = append
        from exocortex import Index
        Index.open({str(root)!r}, store={str(store)!r}, workers=1).update()
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -9
    assert snapshot(store) == before
    report = Index.open(root, store=store).update()
    assert report.files == len(SAMPLE_FILES) + 300


def test_second_writer_is_refused(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    index.update()
    with store_locked_by_another_process(index.store) as pid:
        with pytest.raises(StoreLockedError, match=f"pid {pid}"):
            index.update()
        assert index.status().files == len(SAMPLE_FILES)  # readers are not blocked
    assert index.update().processed == 0  # the lock died with its holder


def test_waiting_writer_gets_the_lock(sample_repo: Path) -> None:
    index = Index.open(sample_repo, lock_wait_s=5.0)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_lock(index.store):
            held.set()
            release.wait(0.5)

    t = threading.Thread(target=hold)
    t.start()
    assert held.wait(5)
    try:
        assert index.update().files == len(SAMPLE_FILES)
    finally:
        release.set()
        t.join()


def test_reader_keeps_its_snapshot_while_a_writer_commits(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    index.update()
    reader = StoreReader(index.store)
    paths_before = sorted(reader.read("files", ["path"]).column("path").to_pylist())
    (sample_repo / "app/util.py").unlink()
    (sample_repo / "extra.py").write_text("def x():\n    pass\n")
    index.update()
    assert sorted(reader.read("files", ["path"]).column("path").to_pylist()) == paths_before
    fresh = sorted(StoreReader(index.store).read("files", ["path"]).column("path").to_pylist())
    assert "extra.py" in fresh and "app/util.py" not in fresh


def test_unknown_schema_version_is_refused(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    index.update()
    meta_path = index.store / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["schema_version"] = 999
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(SchemaVersionError, match="re-index"):
        index.status()
    with pytest.raises(SchemaVersionError):
        index.update()
    assert index.update(rebuild=True).files == len(SAMPLE_FILES)


@pytest.mark.parametrize("damage", ["garbage-meta", "truncated-meta", "missing-table"])
def test_corrupted_store_is_reported_and_rebuildable(sample_repo: Path, damage: str) -> None:
    index = Index.open(sample_repo)
    index.update()
    meta_path = index.store / "meta.json"
    if damage == "garbage-meta":
        meta_path.write_bytes(b"\x00\xffnot json")
    elif damage == "truncated-meta":
        meta_path.write_text(meta_path.read_text()[:40])
    else:
        import shutil

        db_dir = json.loads(meta_path.read_text())["db_dir"]
        shutil.rmtree(index.store / db_dir / "chunks.lance")
    with pytest.raises(StoreCorruptError, match="--rebuild"):
        StoreReader(index.store).read("chunks")
    assert index.update(rebuild=True).files == len(SAMPLE_FILES)
    assert index.status().files == len(SAMPLE_FILES)


def test_interrupted_first_run_means_no_index(sample_repo: Path) -> None:
    store = sample_repo / ".exocortex"
    (store / "lance-0123456789abcdef").mkdir(parents=True)
    (store / "lance-0123456789abcdef" / "junk").write_text("half-written")
    (store / "exocortex-store").write_text("")
    with pytest.raises(IndexNotFoundError):
        Index.open(sample_repo).status()
    assert Index.open(sample_repo).update().files == len(SAMPLE_FILES)


def test_settings_change_reindexes_everything(sample_repo: Path) -> None:
    Index.open(sample_repo).update()
    report = Index.open(sample_repo, max_chunk_lines=3).update()
    assert report.processed == len(SAMPLE_FILES)
    chunks = StoreReader(sample_repo / ".exocortex").read("chunks").to_pylist()
    code = [c for c in chunks if c["path"].endswith((".py", ".js"))]
    assert max(c["end_line"] - c["start_line"] + 1 for c in code) <= 3


def test_dry_run_writes_nothing(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    plan = index.dry_run()
    assert not index.store.exists()
    assert plan.files == len(SAMPLE_FILES)
    assert plan.bytes == sum((sample_repo / p).stat().st_size for p in SAMPLE_FILES)
    assert {d.directory for d in plan.directories} == {"app", "web", "docs", "."}
    exact = sum(count_tokens((sample_repo / p).read_text()) for p in SAMPLE_FILES)
    assert abs(plan.est_tokens - exact) <= 0.2 * exact
    assert plan.est_seconds >= 0

    index.update()
    (sample_repo / "app/util.py").write_text("x = 1\n")
    again = index.dry_run()
    assert again.existing_index and again.would_process == 1 and again.would_remove == 0


def test_noop_run_does_not_open_the_database(sample_repo: Path) -> None:
    Index.open(sample_repo).update()
    code = (
        "import sys; from exocortex import Index\n"
        f"r = Index.open({str(sample_repo)!r}).update()\n"
        "print(r.processed, r.files, 'lancedb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", str(len(SAMPLE_FILES)), "False"]


def test_missing_manifest_sidecar_falls_back_to_the_table(sample_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    index = Index.open(sample_repo, workers=1)
    index.update()
    for sidecar in index.store.glob("manifest-*.arrow"):
        sidecar.unlink()
    spy.reset()
    report = index.update()
    assert report.processed == 0 and spy.hashed == []
    assert list(index.store.glob("manifest-*.arrow"))  # written again by that run


def test_bad_bytes_and_odd_encodings_are_indexed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "broken.py").write_bytes(b"def ok():\n    return '\xff\xfe\x80'\n")
    (root / "latin1.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
    (root / "utf16.md").write_bytes("# Titre\n\nbonjour\n".encode("utf-16"))
    report = Index.open(root, workers=1).update()
    assert report.files == 3 and report.skipped == {}
    files = {f["path"]: f for f in StoreReader(root / ".exocortex").read("files").to_pylist()}
    assert files["utf16.md"]["encoding"] == "utf-16"
    chunks = StoreReader(root / ".exocortex").read("chunks").to_pylist()
    assert any(c["symbol"] == "ok" for c in chunks)
    assert any("café" in c["text"] for c in chunks)


def test_file_deleted_while_indexing_is_skipped(sample_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = run_module.process_batch

    def delete_first(opts: Any, jobs: list[Any]) -> Any:
        (sample_repo / jobs[0].path).unlink()
        return real(opts, jobs)

    monkeypatch.setattr(run_module, "process_batch", delete_first)
    report = Index.open(sample_repo, workers=1).update()
    assert report.skipped.get("vanished") == 1
    assert report.files == len(SAMPLE_FILES) - 1


def test_file_rewritten_while_indexing_is_picked_up_next_run(
    sample_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exocortex.indexing.process as process_module

    real = process_module.read_source
    target = sample_repo / "app/util.py"

    def read_then_rewrite(root: Any, path: str, limits: Any) -> Any:
        result = real(root, path, limits)
        if path == "app/util.py":  # a writer lands just after we read
            target.write_text(target.read_text() + "\ndef late():\n    return 3\n")
            st_ = target.stat()
            os.utime(target, ns=(st_.st_atime_ns, st_.st_mtime_ns + 2_000_000_000))
        return result

    monkeypatch.setattr(process_module, "read_source", read_then_rewrite)
    index = Index.open(sample_repo, workers=1)
    index.update()
    monkeypatch.undo()
    report = index.update()
    assert report.changed == 1
    assert "late" in {s["name"] for s in StoreReader(index.store).read("symbols").to_pylist()}


def test_empty_git_repository_has_nothing_to_index(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    report = Index.open(root).update()
    assert report.files == 0


def _die_in_worker(opts: Any, jobs: list[Any]) -> Any:
    os._exit(3)  # what a segfault in a parser looks like to the pool


def test_a_dying_worker_is_a_clear_error_and_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    write_tree(root, SAMPLE_FILES)
    index = Index.open(root, workers=2, inline_max_bytes=0)
    index.update()
    before = snapshot(index.store)
    (root / "app/util.py").write_text("def changed():\n    pass\n")
    monkeypatch.setattr(run_module, "process_batch", _die_in_worker)
    with pytest.raises(WorkerCrashedError, match="previous index is intact"):
        index.update()
    assert snapshot(index.store) == before
    monkeypatch.undo()
    assert index.update().changed == 1
