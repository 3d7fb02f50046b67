"""Nothing lost, nothing silent: rebuilds, kills, orphaned workers, stale or damaged data, foreign folders.

Each test runs the real thing (a writer in a subprocess killed with SIGKILL, real worker
processes, bytes changed on disk) and checks what a user would see next.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from exocortex import Index
from exocortex.cli import main as cli_main
from exocortex.errors import InputPathError, NoMatchesError, StoreCorruptError, StoreLockedError
from exocortex.search.hits import SearchHit

from .conftest import SAMPLE_FILES, write_tree


def _meta(store: Path) -> dict:
    return json.loads((store / "meta.json").read_text())


def _run_killed_before_commit(root: Path, store: Path, *, rebuild: bool) -> None:
    """Index ``root`` in a subprocess that kills itself with SIGKILL just before it would commit."""
    code = textwrap.dedent(
        f"""
        import os, signal
        import exocortex.store.lance as lance
        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        lance.write_meta = die
        from exocortex import Index
        Index.open({str(root)!r}, store={str(store)!r}, workers=1).update(rebuild={rebuild})
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


def _paths(search: Callable[[], list[SearchHit]]) -> set[str]:
    """The paths of ``search()``'s hits; none when nothing matches (the API raises NoMatchesError then)."""
    try:
        return {h.path for h in search()}
    except NoMatchesError:
        return set()


# --- 1. an interrupted rebuild leaves the previous index --------------------------------------


def test_rebuild_killed_before_commit_leaves_previous_index_whole(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    index.update()
    before = _meta(index.store)
    hits_before = index.search("slugify text", k=5)
    _run_killed_before_commit(sample_repo, index.store, rebuild=True)
    # The committed folder was never touched: the same commit, readable, searchable.
    assert _meta(index.store)["commit_id"] == before["commit_id"]
    assert index.status().files == len(SAMPLE_FILES)
    assert [(h.path, h.lines) for h in Index.open(sample_repo).search("slugify text", k=5)] == [
        (h.path, h.lines) for h in hits_before
    ]
    assert index.pack("slugify text", 2000).tokens > 0
    # The next rebuild commits, and the interrupted one's folder does not stay behind for ever.
    index.update(rebuild=True)
    index.update(rebuild=True)
    meta = _meta(index.store)
    folders = sorted(p.name for p in index.store.iterdir() if p.name.startswith("lance"))
    assert folders == sorted({meta["db_dir"], meta["previous_db_dir"]})


def test_rebuild_keeps_readers_working(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, SAMPLE_FILES | {f"gen/m{i}.py": f"def gen_{i}():\n    return {i}\n" for i in range(200)})
    store = tmp_path / "store"
    Index.open(root, store=store).update()
    errors: list[BaseException] = []
    reads = 0
    done = threading.Event()

    def read() -> None:
        nonlocal reads
        while not done.is_set():
            try:
                assert Index.open(root, store=store).search("gen_7", k=3)
                reads += 1
            except BaseException as exc:  # noqa: BLE001 - every failure is what we count
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(3):
            proc = subprocess.run(
                [sys.executable, "-m", "exocortex.cli", "index", str(root), "--store", str(store), "--rebuild"],
                capture_output=True, text=True, timeout=180,
            )
            assert proc.returncode == 0, proc.stderr
    finally:
        done.set()
        reader.join()
    assert reads > 0
    assert errors == []


# --- 3. workers die with their parent; a dead writer's lock is taken over ----------------------


def test_killed_parent_leaves_no_workers_and_no_lock(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {f"pkg/m{i}.py": f"def f{i}(x):\n    return x + {i}\n" * 400 for i in range(400)})
    store = tmp_path / "store"
    env = os.environ | {"EXOCORTEX_INLINE_MAX_BYTES": "1"}
    parent = subprocess.Popen(
        [sys.executable, "-m", "exocortex.cli", "index", str(root), "--store", str(store), "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline and parent.poll() is None:
        workers = psutil.Process(parent.pid).children()
        time.sleep(0.05)
    assert len(workers) >= 2, "the run never started its workers"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == [], f"workers outlived their parent: {[p.pid for p in alive]}"
    report = Index.open(root, store=store, workers=1).update()
    assert report.files == 400


def test_lock_of_a_dead_writer_is_taken_over(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    index.update()
    # An orphan of a dead writer (as older versions left them): it holds the flock, the lock
    # file names a writer that no longer runs.
    code = textwrap.dedent(
        f"""
        import fcntl, os, time
        fd = os.open({str(index.store / "lock")!r}, os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"{2**22 + 12345} 1", 0)
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    orphan = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert orphan.stdout is not None and orphan.stdout.readline().strip() == "locked"
        (sample_repo / "app" / "new.py").write_text("def fresh():\n    return 1\n")
        assert index.update().added == 1
        assert orphan.wait(timeout=10) == -signal.SIGKILL
    finally:
        orphan.kill()
        orphan.wait()


def test_refused_writer_leaves_the_holders_pid(sample_repo: Path) -> None:
    from .conftest import store_locked_by_another_process

    index = Index.open(sample_repo)
    index.update()
    with store_locked_by_another_process(index.store) as pid:
        for _ in range(2):  # the second refusal still names the holder
            with pytest.raises(StoreLockedError, match=f"pid {pid}"):
                index.update()


# --- 4. search data keyed by the commit, verified, rebuilt when damaged ------------------------


def test_search_data_is_not_reused_across_a_rebuild(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {f"a{i}.py": f"def alpha_func_{i}():\n    return {i}\n" for i in range(10)})
    index = Index.open(root)
    index.update()
    assert "a7.py" in _paths(lambda: index.search("alpha_func_7"))
    for i in range(10):
        (root / f"a{i}.py").unlink()
    write_tree(root, {f"z{i}.py": f"def zeta_thing_{i}():\n    return {i}\n" for i in range(10)})
    index.update(rebuild=True)
    assert "a7.py" not in _paths(lambda: Index.open(root).search("alpha_func_7")) | _paths(
        lambda: index.search("alpha_func_7"))
    assert "z7.py" in _paths(lambda: Index.open(root).search("zeta_thing_7"))


@pytest.mark.parametrize("damage", ["truncate", "delete", "overwrite", "done"])
def test_damaged_search_data_is_built_again(sample_repo: Path, damage: str) -> None:
    index = Index.open(sample_repo)
    index.update()
    expected = [(h.path, h.lines) for h in index.search("slugify text")]
    segments = index.store / "search" / "segments"
    # the base segment: every file's search data (its chunk vectors' folder beside it has tests of its own)
    (folder,) = [p for p in segments.iterdir() if not p.name.startswith("vectors-")]
    victim = max((p for p in folder.rglob("*.npy")), key=lambda p: p.stat().st_size)
    name = victim.relative_to(folder)
    original = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:-7])
    elif damage == "delete":
        victim.unlink()
    elif damage == "overwrite":
        data = bytearray(victim.read_bytes())
        data[-1] ^= 0xFF
        victim.write_bytes(bytes(data))
    else:
        (folder / "done").write_text("{")
    # A new process (the in-memory copy is this process's): same answer, the segment built again.
    code = textwrap.dedent(
        f"""
        import json
        from exocortex import Index
        hits = Index.open({str(sample_repo)!r}).search("slugify text")
        print(json.dumps([[h.path, list(h.lines)] for h in hits]))
        """
    )
    env = {**os.environ, "EXOCORTEX_ANSWER_CACHE_MAX_BYTES": "0"}  # searched, not a remembered answer
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert [(p, tuple(lines)) for p, lines in json.loads(proc.stdout)] == expected
    (rebuilt,) = [f for f in segments.iterdir() if not f.name.startswith((".", "vectors-"))]
    assert (rebuilt / name).read_bytes() == original
    assert json.loads((rebuilt / "done").read_text())["files"]


# --- 9. a broken store is not reported healthy; damaged bytes are not served -------------------


@pytest.mark.parametrize("damage", ["deleted-table", "bumped-version", "non-numeric-count", "meta-is-a-dir"])
def test_broken_store_is_reported_by_status_and_index(sample_repo: Path, damage: str, capsys) -> None:
    index = Index.open(sample_repo)
    index.update()
    meta_path = index.store / "meta.json"
    meta = _meta(index.store)
    if damage == "deleted-table":
        import shutil

        shutil.rmtree(index.store / meta["db_dir"] / "symbols.lance")
    elif damage == "bumped-version":
        meta["tables"]["chunks"] += 5
        meta_path.write_text(json.dumps(meta))
    elif damage == "non-numeric-count":
        meta["last_run"]["summary"]["files"] = "many"
        meta_path.write_text(json.dumps(meta))
    else:
        meta_path.unlink()
        meta_path.mkdir()
    repo = str(sample_repo)
    for argv in (["status", repo], ["index", repo], ["search", "slugify", "-C", repo]):
        assert cli_main(argv) == StoreCorruptError.exit_code, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
    if damage == "meta-is-a-dir":
        assert cli_main(["index", str(sample_repo), "--rebuild"]) == StoreCorruptError.exit_code
        assert "remove it" in capsys.readouterr().err
        meta_path.rmdir()
    assert cli_main(["index", str(sample_repo), "--rebuild"]) == 0
    assert cli_main(["search", "slugify", "-C", str(sample_repo)]) == 0


def test_bytes_overwritten_in_a_data_file_are_refused(sample_repo: Path) -> None:
    index = Index.open(sample_repo)
    index.update()
    meta = _meta(index.store)
    needle = b"Lower-case and dash-join"
    changed = 0
    for data_file in (index.store / meta["db_dir"] / "chunks.lance" / "data").iterdir():
        raw = data_file.read_bytes()
        if needle in raw:
            data_file.write_bytes(raw.replace(needle, b"X" * len(needle)))
            changed += 1
    assert changed, "the chunk text was not found verbatim in the data files"
    with pytest.raises(StoreCorruptError, match="app/util.py"):
        Index.open(sample_repo).pack("how is a slug made: slugify", 4000)


# --- 7, 10. store paths: a file, a foreign folder, an unwritable one ---------------------------


def test_store_folder_that_is_not_a_store_is_refused_and_left_alone(sample_repo: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "d"
    (foreign / "lance" / "mydb.lance").mkdir(parents=True)
    (foreign / "lance" / "mydb.lance" / "data.txt").write_text("precious")
    with pytest.raises(InputPathError, match="not an exocortex store"):
        Index.open(sample_repo, store=foreign).update()
    with pytest.raises(InputPathError, match="not an exocortex store"):
        Index.open(sample_repo, store=foreign).update(rebuild=True)
    assert (foreign / "lance" / "mydb.lance" / "data.txt").read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert Index.open(sample_repo, store=empty).update().files == len(SAMPLE_FILES)


@pytest.mark.parametrize("store", ["file", "/dev/null"])
def test_store_path_that_is_a_file_is_a_bad_path(sample_repo: Path, tmp_path: Path, store: str, capsys) -> None:
    path = tmp_path / "a-file" if store == "file" else Path(store)
    if store == "file":
        path.write_text("not a store")
    for argv in (["index", str(sample_repo), "--store", str(path)], ["status", str(sample_repo), "--store", str(path)],
                 ["search", "x", "-C", str(sample_repo), "--store", str(path)]):
        assert cli_main(argv) == InputPathError.exit_code, argv
        assert "not a directory" in capsys.readouterr().err
    if store == "file":
        assert path.read_text() == "not a store"


def test_unwritable_store_is_a_bad_path(sample_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = Index.open(sample_repo)
    index.update()
    (sample_repo / "app" / "new.py").write_text("x = 1\n")
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # a read-only mount, as root sees it
        if Path(path) == index.store and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(InputPathError, match="cannot write the store"):
        index.update()
    assert index.status().files == len(SAMPLE_FILES)


def test_lock_replaced_by_a_directory_is_reported(sample_repo: Path, capsys) -> None:
    index = Index.open(sample_repo)
    index.update()
    (sample_repo / "app" / "new.py").write_text("x = 1\n")
    (index.store / "lock").unlink()
    (index.store / "lock").mkdir()
    assert cli_main(["index", str(sample_repo)]) == StoreCorruptError.exit_code
    assert "lock" in capsys.readouterr().err


def test_vcf_ingest_into_a_folder_that_is_not_a_store_is_refused(tmp_path: Path, capsys) -> None:
    vcf = Path(__file__).parent / "fixtures" / "vcf" / "chr22.vcf.gz"
    foreign = tmp_path / "d"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    assert cli_main(["vcf", "ingest", str(vcf), "--store", str(foreign)]) == InputPathError.exit_code
    assert "not an exocortex store" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    # A code store takes variants beside its index.
    store = tmp_path / "store"
    write_tree(tmp_path / "repo", SAMPLE_FILES)
    Index.open(tmp_path / "repo", store=store).update()
    assert cli_main(["vcf", "ingest", str(vcf), "--store", str(store)]) == 0


def test_commands_run_from_a_subdirectory_use_the_enclosing_index(sample_repo: Path, capsys,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    Index.open(sample_repo).update()
    monkeypatch.chdir(sample_repo / "app")
    assert Index.find().root == sample_repo
    assert cli_main(["search", "slugify", "--json"]) == 0
    assert "app/util.py" in capsys.readouterr().out
    assert cli_main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["root"] == str(sample_repo)
    assert cli_main(["pack", "slugify", "--budget", "2k"]) == 0
    # With no index anywhere above, the error still names where the search was run.
    monkeypatch.chdir(sample_repo.parent)
    assert cli_main(["search", "slugify"]) == 8
    assert str(sample_repo.parent) in capsys.readouterr().err


def test_the_store_keeps_git_status_clean(sample_repo: Path) -> None:
    subprocess.run(["git", "init", "-q", str(sample_repo)], check=True)
    Index.open(sample_repo).update()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=sample_repo,
                            capture_output=True, text=True, check=True).stdout
    assert status and ".exocortex" not in status
