"""The semantic signal: static term embeddings from a packaged model, vectors per search segment
(incremental, keyed by the model), held in the memory layer's tiers, and a clear fallback when
the model is missing or damaged."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from exocortex import Index
from exocortex.errors import NoMatchesError
from exocortex.memory.engine import engine_memory
from exocortex.memory.tiers import cuda_available
from exocortex.search import semantic, vectors
from exocortex.search.cache import CACHE_DIRNAME, SEGMENTS_DIRNAME, VECTORS_INFO_FILE, VECTORS_PREFIX, load_search_data
from exocortex.store.lance import StoreReader

FILES = {
    "cache.py": '''
def purge_stale_entries(store, max_age):
    """Evict outdated records so the cache never grows without bound."""
    for key in list(store):
        if store[key].age > max_age:
            del store[key]
''',
    "net.py": '''
def open_socket(host, port):
    """Connect to a server over TCP and return the connection."""
    return connect((host, port))
''',
    "plot.py": '''
def draw_axes(figure, color):
    """Render the chart axes with tick labels in the given colour."""
    figure.axes.paint(color)
''',
    "mathx.py": '''
def integrate_polynomial(coefficients):
    """Compute the antiderivative of a polynomial given its coefficients."""
    return [c / (i + 1) for i, c in enumerate(coefficients)]
''',
    "auth.py": '''
def check_password(user, secret):
    """Verify the login credentials of a user against the stored hash."""
    return user.hash == digest(secret)
''',
}


def make_repo(root: Path, **settings: object) -> Index:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (root / name).write_text(text)
    index = Index.open(root, **settings)
    index.update()
    return index


def vector_folders(index: Index) -> list[str]:
    return sorted(p.name for p in (index.store / CACHE_DIRNAME / SEGMENTS_DIRNAME).iterdir()
                  if p.name.startswith(VECTORS_PREFIX))


@pytest.fixture
def fresh_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the process's loaded model (and any remembered failure) for this test."""
    monkeypatch.setattr(semantic, "_model", None)
    monkeypatch.setattr(semantic, "_model_error", None)


def test_ragged_sums_equal_a_loop() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 8)).astype(np.float32)
    lengths = rng.integers(0, 7, size=200)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    items = rng.integers(0, 50, size=int(offsets[-1]))
    got = semantic.ragged_sums(table, items, offsets)
    want = np.stack([table[items[a:b]].sum(0) if b > a else np.zeros(8, np.float32)
                     for a, b in zip(offsets[:-1], offsets[1:], strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_the_model_ships_in_its_package_and_names_its_weights() -> None:
    model = semantic.load_model()
    assert model.name.startswith("wordllama/l2_supercat_256@") and len(model.name.rsplit("@", 1)[1]) == 16
    v = model.term_vectors(["cache", "cache", "", "socket"])
    assert v.shape == (4, semantic.DIM)
    np.testing.assert_array_equal(v[0], v[1])
    assert not v[2].any()  # no token: a zero row, not NaN


def test_a_question_in_other_words_finds_the_code(tmp_path: Path) -> None:
    index = make_repo(tmp_path / "r", weight_semantic=1.0)
    for query, path in [("delete old items from memory", "cache.py"), ("sign in authentication", "auth.py"),
                        ("graph plotting", "plot.py"), ("calculus", "mathx.py")]:
        hits = index.search(query, k=3)
        assert hits and hits[0].path == path, (query, [h.path for h in hits])
        assert hits[0].signals.get("semantic", 0) > 0
        assert "bm25" not in hits[0].signals  # no word in common: only the meaning found it
    with pytest.raises(NoMatchesError):  # about nothing here: no nearest-but-unrelated chunk
        index.search("zebra stripes savanna", k=3)
    off = make_repo(tmp_path / "off", weight_semantic=0.0)
    with pytest.raises(NoMatchesError):  # the words alone match nothing
        off.search("delete old items from memory", k=3)


def test_vectors_are_made_per_segment_incrementally_and_held_in_tiers(tmp_path: Path) -> None:
    index = make_repo(tmp_path / "r", weight_semantic=1.0)
    index.search("delete old items", k=3)
    (base_vectors,) = vector_folders(index)
    base_file = index.store / CACHE_DIRNAME / SEGMENTS_DIRNAME / base_vectors / vectors.VECTORS_FILE
    before = os.stat(base_file)
    (index.root / "cache.py").write_text(FILES["cache.py"].replace("purge_stale_entries", "drop_expired"))
    (index.root / "auth.py").unlink()
    index.update()
    hits = index.search("delete old items from memory", k=5)
    assert hits[0].path == "cache.py" and hits[0].symbol == "drop_expired"
    with contextlib.suppress(NoMatchesError):  # the deleted file's vector went with it; nothing else fits
        assert all(h.path != "auth.py" for h in index.search("sign in authentication", k=5))
    folders = vector_folders(index)
    assert base_vectors in folders and len(folders) == 2  # the base's, untouched, and the delta's
    after = os.stat(base_file)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    delta = next(f for f in folders if f != base_vectors)
    info = json.loads((index.store / CACHE_DIRNAME / SEGMENTS_DIRNAME / delta / VECTORS_INFO_FILE).read_text())
    assert info["rows"] == load_search_data(StoreReader(index.store)).segments["delta_files"]  # one chunk a file
    tiers = index.memory_stats()["vector_tiers"]
    assert tiers is not None and tiers["hot"]["rows"] >= 4 and tiers["hot"]["bytes"] > 0


def test_another_model_re_embeds_and_rebuilds_nothing_else(tmp_path: Path, fresh_model: None,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    index = make_repo(tmp_path / "r", weight_semantic=1.0, answer_cache_max_entries=0)
    first = index.search("delete old items from memory", k=3)
    segments = index.store / CACHE_DIRNAME / SEGMENTS_DIRNAME
    others = {p.name: p.stat().st_ino for p in segments.iterdir() if not p.name.startswith(VECTORS_PREFIX)}
    (old,) = vector_folders(index)
    real = semantic.load_model()
    other = semantic.StaticModel(real.name[:-16] + "0" * 16, real.embeddings, real.tokenizer)
    monkeypatch.setattr(semantic, "_model", other)
    vectors._bases.clear()
    load_search_data(StoreReader(index.store)).vectors = None  # this process held the old model's
    engine_memory(index.config).queries.clear()  # and its answers (a new process would not)
    assert [(h.path, h.ordinal) for h in index.search("delete old items from memory", k=3)] == \
        [(h.path, h.ordinal) for h in first]
    (new,) = vector_folders(index)
    assert new != old and new.startswith(f"{VECTORS_PREFIX}{'0' * 16}-")
    assert {p.name: p.stat().st_ino for p in segments.iterdir() if not p.name.startswith(VECTORS_PREFIX)} == others


def test_damaged_vectors_are_made_again(tmp_path: Path) -> None:
    index = make_repo(tmp_path / "r", weight_semantic=1.0)
    want = [(h.path, h.ordinal) for h in index.search("sign in authentication", k=3)]
    (folder,) = vector_folders(index)
    path = index.store / CACHE_DIRNAME / SEGMENTS_DIRNAME / folder / vectors.VECTORS_FILE
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    vectors._checked.clear()
    vectors._bases.clear()
    load_search_data(StoreReader(index.store)).vectors = None
    assert [(h.path, h.ordinal) for h in index.search("sign in authentication", k=3)] == want
    assert np.load(path).shape[0] == 5


def test_a_missing_model_names_the_package_and_search_falls_back(
        tmp_path: Path, fresh_model: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(semantic, "package_dir", lambda: None)
    with pytest.raises(semantic.ModelUnavailable, match=r"pip install wordllama=="):
        semantic.load_model()
    index = make_repo(tmp_path / "r", weight_semantic=1.0)
    hits = index.search("open socket", k=3)
    assert hits and hits[0].path == "net.py" and "semantic" not in hits[0].signals
    assert "semantic signal off" in capsys.readouterr().err


def test_a_corrupt_model_file_is_a_clear_error(tmp_path: Path, fresh_model: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = semantic.package_dir()
    assert real is not None
    broken = tmp_path / "pkg"
    shutil.copytree(real / "tokenizers", broken / "tokenizers")
    (broken / "weights").mkdir()
    (broken / semantic.WEIGHTS_FILE).write_bytes(b"\x00" * 64)
    monkeypatch.setattr(semantic, "package_dir", lambda: broken)
    with pytest.raises(semantic.ModelUnavailable, match="reinstall it with `pip install --force-reinstall"):
        semantic.load_model()
    with pytest.raises(semantic.ModelUnavailable):  # remembered: one try per process
        semantic.load_model()


def test_int8_tier_keeps_the_neighbours_of_the_engine_vectors(tmp_path: Path) -> None:
    """With no room in the hot tier every vector is int8; the top 10 stay those of exact float32."""
    index = make_repo(tmp_path / "r", weight_semantic=1.0, vector_hot_bytes=0)
    hits = index.search("delete old items from memory", k=3)
    assert hits[0].path == "cache.py"
    tiers = index.memory_stats()["vector_tiers"]
    assert tiers["hot"]["rows"] == 0 and tiers["warm"]["rows"] >= 5


@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU (PyTorch sees none)")
def test_gpu_hot_tier_ranks_as_the_cpu(tmp_path: Path) -> None:
    cpu = make_repo(tmp_path / "cpu", weight_semantic=1.0, vector_device="cpu")
    gpu = make_repo(tmp_path / "gpu", weight_semantic=1.0, vector_device="cuda")
    for query in ("delete old items from memory", "calculus", "network connection to a host"):
        assert [(h.path, h.ordinal) for h in gpu.search(query, k=5)] == \
            [(h.path, h.ordinal) for h in cpu.search(query, k=5)]
    assert gpu.memory_stats()["vector_tiers"]["device"] == ["cuda"]


def test_status_reports_the_vectors_on_disk_and_in_tiers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exocortex.cli import main

    index = make_repo(tmp_path / "r", weight_semantic=1.0)
    index.search("calculus", k=3)
    status = index.status()
    (made,) = status.search_data["vectors"]
    assert made["model"] == semantic.load_model().name and made["rows"] == 5 and made["bytes"] > 5 * 256 * 2
    assert main(["status", str(index.root)]) == 0
    out = capsys.readouterr().out
    assert "chunk vectors: 5 of" in " ".join(out.split())
    assert "vector tiers" in out and "hot " in out


def test_an_index_run_makes_the_changed_files_vectors(tmp_path: Path) -> None:
    index = make_repo(tmp_path / "r", weight_semantic=1.0)
    index.search("calculus", k=3)  # the first semantic search makes the base's
    (base_vectors,) = vector_folders(index)
    (index.root / "net.py").write_text(FILES["net.py"].replace("open_socket", "dial_server"))
    index.update()  # no search yet: the update itself embedded the delta
    folders = vector_folders(index)
    assert len(folders) == 2 and base_vectors in folders


def test_a_vectors_folder_left_half_written_is_made_again(tmp_path: Path) -> None:
    """A process killed while writing vectors leaves a folder without its ``done`` list (or a
    ``.build-*`` folder): the next search makes them again and answers as before."""
    index = make_repo(tmp_path / "r", weight_semantic=1.0)
    want = [(h.path, h.ordinal) for h in index.search("graph plotting", k=3)]
    segments = index.store / CACHE_DIRNAME / SEGMENTS_DIRNAME
    (folder,) = vector_folders(index)
    (segments / folder / "done").unlink()
    (segments / ".build-killed").mkdir()  # a temporary folder of a dead build
    vectors._checked.clear()
    vectors._bases.clear()
    load_search_data(StoreReader(index.store)).vectors = None
    engine_memory(index.config).queries.clear()
    assert [(h.path, h.ordinal) for h in Index.open(index.root, weight_semantic=1.0,
                                                    answer_cache_max_entries=0).search("graph plotting", k=3)] == want
    assert (segments / folder / "done").is_file()
