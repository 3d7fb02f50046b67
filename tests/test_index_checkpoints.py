"""An index being built commits what it has as it goes: searches answer from its checkpoints,
``status`` says how far it is, a killed build resumes where its last checkpoint left it, and the
finished index is the one a run without checkpoints makes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from exocortex import Index
from exocortex.store.meta import read_meta

from .test_index import snapshot

FILES = 60


def make_tree(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(FILES):
        (root / f"m{i:02d}.py").write_text(
            f"def kestrel_{i}(value):\n    return value + {i}\n\n\nclass Falcon{i}:\n    pass\n" * (1 + i % 3)
        )


# Many small batches, processed in this process, each written alone, and a checkpoint after each.
SETTINGS = {"workers": 1, "worker_batch_files": 4, "write_batch_bytes": 1, "index_checkpoint_s": 1e-6}


def test_a_first_index_commits_checkpoints_that_answer_searches(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_tree(root)
    index = Index.open(root, store=tmp_path / "store", **SETTINGS)
    seen: list[dict[str, int]] = []
    answers: list[tuple[list[str], dict[str, int] | None, str, float]] = []

    def progress(done: int, total: int) -> None:
        if not (index.store / "meta.json").is_file():
            return  # before the first checkpoint
        mark = read_meta(index.store).last_run.get("checkpoint")
        if mark is None or (seen and seen[-1] == mark):
            return
        seen.append(mark)
        if len(seen) == 2:  # a reader while the build runs: another Index on the same store
            reader = Index.open(root, store=index.store, **SETTINGS)
            status = reader.status()
            assert status.building == mark and status.files == mark["files_done"]
            hits = reader.search("kestrel falcon", k=50)
            assert reader.freshness is not None
            fresh = reader.freshness
            answers.append(([h.path for h in hits], fresh.building, fresh.checked, fresh.refresh_s))

    report = index.update(progress=progress)
    assert report.files == FILES
    assert len(seen) >= 3
    done = [m["files_done"] for m in seen]
    assert done == sorted(done) and all(0 < d < FILES for d in done)
    assert {m["files_planned"] for m in seen} == {FILES}
    # The reader got an answer at once from the checkpoint (the build held the lock), over its files only.
    ((paths, building, checked, refresh_s),) = answers
    assert checked == "busy" and building == seen[1] and refresh_s < 2.0  # not the 5 s a busy writer gets
    assert paths and len(set(paths)) <= seen[1]["files_done"] < FILES
    # Finished: complete, and the same index as a run that never committed before its end.
    assert index.status().building is None
    assert read_meta(index.store).last_run.get("checkpoint") is None
    plain = Index.open(root, store=tmp_path / "plain", workers=1, index_checkpoint_s=0)
    plain.update()
    assert snapshot(index.store) == snapshot(plain.store)
    lexical = {"weight_semantic": 0.0, "weight_semantic_file": 0.0}  # a delta's vectors use its base's IDF
    assert [h.path for h in Index.open(root, store=index.store, **lexical).search("kestrel_7")] == \
        [h.path for h in Index.open(root, store=plain.store, **lexical).search("kestrel_7")]


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from exocortex import Index
    from exocortex.store.meta import read_meta

    index = Index.open(sys.argv[1], store=sys.argv[2], workers=1, worker_batch_files=4, write_batch_bytes=1,
                       index_checkpoint_s=1e-6)

    def progress(done, total):
        meta = index.store / "meta.json"
        if meta.is_file() and (read_meta(index.store).last_run.get("checkpoint") or {}).get("files_done", 0) >= 20:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-build, after a checkpoint

    index.update(progress=progress)
    """
)


def test_a_killed_build_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_tree(root)
    store = tmp_path / "store"
    proc = subprocess.run([sys.executable, "-c", KILLED, str(root), str(store)], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    mark = read_meta(store).last_run["checkpoint"]
    assert 20 <= mark["files_done"] < FILES
    status = subprocess.run(
        [sys.executable, "-m", "exocortex.cli", "status", str(root), "--store", str(store), "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert json.loads(status.stdout)["building"] == mark
    # The next run processes only what the checkpoint lacks, and ends with the whole index; its own
    # checkpoints count the files of the whole build.
    index = Index.open(root, store=store, **SETTINGS)
    resumed: list[dict[str, int]] = []
    report = index.update(progress=lambda done, total: resumed.append(read_meta(store).last_run.get("checkpoint")))
    assert report.added == FILES - mark["files_done"] and report.changed == 0
    later = [m for m in resumed if m is not None and m != mark]
    assert later and all(m["files_planned"] == FILES and mark["files_done"] < m["files_done"] < FILES for m in later)
    assert report.files == FILES and index.status().building is None
    plain = Index.open(root, store=tmp_path / "plain", workers=1, index_checkpoint_s=0)
    plain.update()
    assert snapshot(store) == snapshot(plain.store)


def test_a_rebuild_of_a_complete_index_commits_only_at_its_end(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_tree(root)
    index = Index.open(root, store=tmp_path / "store", **SETTINGS)
    index.update()
    before = read_meta(index.store)
    commits: set[str] = set()

    def progress(done: int, total: int) -> None:
        commits.add(read_meta(index.store).commit_id)

    index.update(rebuild=True, progress=progress)
    assert commits == {before.commit_id}  # readers kept the complete index until the rebuild's commit
    assert read_meta(index.store).commit_id != before.commit_id


def test_only_the_first_checkpoint_cuts_a_write_batch_short(tmp_path: Path) -> None:
    import lance

    root = tmp_path / "repo"
    make_tree(root)
    # Each write batch is a fragment of every table: later checkpoints wait for full batches.
    index = Index.open(root, store=tmp_path / "store", workers=1, worker_batch_files=4, index_checkpoint_s=1e-6)
    marks: list[object] = []
    index.update(progress=lambda done, total: marks.append(
        read_meta(index.store).last_run.get("checkpoint") if (index.store / "meta.json").is_file() else None))
    assert {str(m) for m in marks if m is not None} and len({str(m) for m in marks if m is not None}) == 1
    meta = read_meta(index.store)
    chunks = lance.dataset(str(index.store / meta.db_dir / "chunks.lance"), version=meta.tables["chunks"])
    assert len(chunks.get_fragments()) == 2  # the first checkpoint's batch, then the rest in one
