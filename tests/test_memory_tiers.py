"""Tiered vector storage: exact hot search, real quantization, budgets, a real Lance cold tier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exocortex.memory.policies import POLICY_NAMES
from exocortex.memory.tiers import (
    TierConfigError,
    TieredVectorStore,
    dequantize_int8,
    dequantize_int8_rotated,
    int8_rotation,
    quantize_float16,
    quantize_int8,
    quantize_int8_rotated,
)

DIM = 32


def _data(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _exact(x: np.ndarray, q: np.ndarray, metric: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force reference in float64."""
    x64, q64 = x.astype(np.float64), q.astype(np.float64)
    if metric == "cosine":
        x64 /= np.linalg.norm(x64, axis=1, keepdims=True)
        q64 /= np.linalg.norm(q64, axis=1, keepdims=True)
    scores = q64 @ x64.T
    if metric == "l2":
        scores = -((q64**2).sum(axis=1)[:, None] - 2 * scores + (x64**2).sum(axis=1)[None, :])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]))


def _seg_bytes_hot(rows: int, dim: int = DIM) -> int:
    return rows * (4 * dim + 8)


def _seg_bytes_int8(rows: int, dim: int = DIM) -> int:
    """One warm int8 segment: codes + scale + id per row, and the float32 column mean."""
    return rows * (dim + 4 + 8) + 4 * dim


def _clustered(n: int, dim: int, seed: int, centres: int = 50) -> np.ndarray:
    """Anisotropic, clustered, normalised: a Gaussian mixture with a power-law spectrum."""
    rng = np.random.default_rng(seed)
    spectrum = (np.arange(dim) + 1.0) ** -0.5
    c = np.random.default_rng(1234).standard_normal((centres, dim)) * spectrum  # shared centres
    x = c[rng.integers(0, centres, n)] + 0.5 * rng.standard_normal((n, dim)) * spectrum
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# --------------------------------------------------------------------------- exact hot search


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_hot_search_equals_brute_force(metric: str) -> None:
    x, q = _data(3000), _data(40, seed=1)
    store = TieredVectorStore(DIM, metric, hot_bytes=None, segment_rows=512)  # type: ignore[arg-type]
    store.add(np.arange(3000) * 7, x)  # ids are the caller's, not positions
    ids, scores = store.search(q, 10)
    want_pos, want_scores = _exact(x, q, metric, 10)
    assert ids.shape == scores.shape == (40, 10)
    np.testing.assert_array_equal(ids, want_pos * 7)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-4)
    assert store.stats().hot.rows == 3000 and store.stats().warm.rows == 0


def test_single_query_shape_and_fewer_rows_than_k() -> None:
    store = TieredVectorStore(DIM, hot_bytes=None)
    x = _data(5)
    store.add([10, 11, 12, 13, 14], x)
    ids, scores = store.search(x[2], 10)
    assert ids.shape == scores.shape == (5,)
    assert ids[0] == 12 and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.diff(scores) <= 0)  # best first
    empty = TieredVectorStore(DIM, hot_bytes=None)
    ids, scores = empty.search(x[:3], 4)
    assert ids.shape == (3, 0)


def test_small_adds_fill_the_tail_segment() -> None:
    store = TieredVectorStore(DIM, hot_bytes=None, segment_rows=100)
    x = _data(250)
    for i in range(0, 250, 10):
        store.add(np.arange(i, i + 10), x[i : i + 10])
    assert store.stats().hot.segments == 3 and len(store) == 250
    ids, _ = store.search(x[:20], 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(20))


# --------------------------------------------------------------------------- quantization


def test_int8_error_is_bounded_by_each_vectors_own_scale() -> None:
    x = _data(200, 64)
    x[:50] *= 1e-3  # tiny vectors keep their precision: the scale is per vector
    x[50:100] *= 1e3
    x[100] = 0.0
    codes, scales = quantize_int8(x)
    assert codes.dtype == np.int8 and scales.dtype == np.float32 and scales.shape == (200,)
    back = dequantize_int8(codes, scales)
    err = np.abs(back - x)
    bound = np.abs(x).max(axis=1) / 254.0
    assert np.all(err <= bound[:, None] * (1 + 1e-5) + 1e-12)
    assert np.all(back[100] == 0.0)
    rel = np.linalg.norm(back - x, axis=1) / np.maximum(np.linalg.norm(x, axis=1), 1e-30)
    assert rel[np.arange(200) != 100].max() < 0.01  # < 1% for every vector, large or tiny
    # a single global scale would lose the tiny vectors entirely
    global_scale = np.abs(x).max() / 127
    assert np.all(np.rint(x[:50] / global_scale) == 0)


def test_float16_round_trip_and_range() -> None:
    x = _data(100, 64)
    half = quantize_float16(x)
    assert half.dtype == np.float16
    assert np.all(np.abs(half.astype(np.float32) - x) <= np.abs(x) * 2.0**-11 + 2.0**-24)
    with pytest.raises(ValueError, match="float16"):
        quantize_float16(np.full((1, 4), 1e5, np.float32))
    store = TieredVectorStore(4, "dot", hot_bytes=0, warm_bytes=None, warm_dtype="float16")
    with pytest.raises(ValueError, match="float16"):
        store.add([1], np.full((1, 4), 1e5, np.float32))


def test_rotated_int8_round_trip_and_exact_score_algebra() -> None:
    x = _clustered(500, 64, seed=11) + np.float32(0.3)  # a shared offset, as real embeddings have
    rot = int8_rotation(64)
    np.testing.assert_allclose(rot @ rot.T, np.eye(64), atol=1e-5)  # orthogonal
    np.testing.assert_array_equal(rot, int8_rotation(64))  # seeded: the same every time
    codes, scales, center = quantize_int8_rotated(x, rot)
    assert codes.dtype == np.int8 and scales.shape == (500,) and center.shape == (64,)
    np.testing.assert_allclose(center, x.mean(axis=0), atol=1e-6)
    back = dequantize_int8_rotated(codes, scales, center, rot)
    y = (x - center) @ rot
    err = np.abs(dequantize_int8(codes, scales) - y)  # the bound holds in the rotated frame
    assert np.all(err <= (np.abs(y).max(axis=1) / 254.0)[:, None] * (1 + 1e-5) + 1e-7)
    # orthogonal: the error has the same size in both frames
    np.testing.assert_allclose(np.linalg.norm(back - x, axis=1), np.linalg.norm(err, axis=1), rtol=1e-3, atol=1e-6)
    # centring and rotating shrink the error against max-abs codes on the raw rows
    plain = dequantize_int8(*quantize_int8(x))
    assert np.linalg.norm(back - x) < 0.5 * np.linalg.norm(plain - x)
    # the store's scores are exact dot products with (or l2 distances to) the dequantized rows
    q = _clustered(20, 64, seed=12)
    for metric in ("dot", "l2"):
        store = TieredVectorStore(64, metric, hot_bytes=0, warm_bytes=None)  # type: ignore[arg-type]
        store.add(np.arange(500), x)
        _, scores = store.search(q, 500)
        want = np.sort(q @ back.T, axis=1)[:, ::-1]
        if metric == "l2":
            want = np.sort(-((q[:, None, :] - back[None, :, :]) ** 2).sum(axis=2), axis=1)[:, ::-1]
        np.testing.assert_allclose(scores, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("data", ["gaussian", "clustered"])
def test_recall_at_10_of_quantized_tiers(data: str, tmp_path: Path) -> None:
    """20k x 128 vectors, 200 queries, cosine: quantized search against exact."""
    n, dim = 20_000, 128
    if data == "gaussian":
        x, q = _data(n, dim, seed=3), _data(200, dim, seed=4)
    else:
        x, q = _clustered(n, dim, seed=3), _clustered(200, dim, seed=4)
    truth, truth_scores = _exact(x, q, "cosine", 10)
    results = {}
    for dtype in ("int8", "float16"):
        store = TieredVectorStore(
            dim, hot_bytes=0, warm_bytes=None, warm_dtype=dtype, segment_rows=4096,  # type: ignore[arg-type]
            cold_dir=tmp_path / dtype,
        )
        store.add(np.arange(n), x)
        raw, _ = store.search(q, 10, rescore=0, promote=False)
        rescored, scores = store.search(q, 10, rescore=4, promote=False)
        results[dtype] = (_recall(raw, truth), _recall(rescored, truth))
        assert store.stats().warm.rows == n
        hit = rescored == truth
        np.testing.assert_allclose(scores[hit], truth_scores[hit], atol=1e-5)  # rescored scores are exact
    # measured on this data: int8 raw 0.989 (gaussian) / 0.977 (clustered), float16 raw 1.0 / 0.996,
    # all 1.0 rescored
    assert results["int8"][0] >= {"gaussian": 0.985, "clustered": 0.97}[data]
    assert results["float16"][0] >= 0.99
    assert results["int8"][1] >= 0.99
    assert results["float16"][1] >= 0.99
    if data == "clustered":  # max-abs codes of the raw rows (no centring, no rotation) lose more: 0.954
        plain = dequantize_int8(*quantize_int8(x))
        plain_found = np.argpartition(-(q @ plain.T), 9, axis=1)[:, :10]
        assert _recall(plain_found, truth) < results["int8"][0] - 0.01


def test_warm_without_cold_tier_returns_quantized_scores() -> None:
    x, q = _data(4000, 64), _data(50, 64, seed=9)
    store = TieredVectorStore(64, hot_bytes=0, warm_bytes=None)
    store.add(np.arange(4000), x)
    ids, scores = store.search(q, 10)
    truth, truth_scores = _exact(x, q, "cosine", 10)
    assert _recall(ids, truth) >= 0.97
    assert np.abs(scores - truth_scores).max() < 0.01
    assert store.stats().rescored == 0


# --------------------------------------------------------------------------- budgets and tiers


def test_budgets_hold_after_every_add_and_bytes_are_honest(tmp_path: Path) -> None:
    hot_budget, warm_budget = _seg_bytes_hot(256) * 3, _seg_bytes_int8(256) * 4 + 256 * 8 * 4
    store = TieredVectorStore(
        DIM, hot_bytes=hot_budget, warm_bytes=warm_budget, segment_rows=256, cold_dir=tmp_path, rescore=0
    )
    rng = np.random.default_rng(5)
    total = 0
    for size in rng.integers(1, 700, size=12):
        store.add(np.arange(total, total + size), _data(int(size), seed=total))
        total += int(size)
        s = store.stats()
        assert s.hot.bytes <= hot_budget and s.warm.bytes <= warm_budget
        assert s.hot.rows + s.warm.rows + s.cold.rows == total == len(store)
    s = store.stats()
    assert s.hot.segments and s.warm.segments and s.cold.segments
    # hot segments that never left hot hold float32 rows + int64 ids, nothing else
    assert s.hot.bytes == _seg_bytes_hot(s.hot.rows)
    # warm int8: codes + scale + id + Lance row address per row
    assert s.warm.bytes == s.warm.rows * (DIM + 4 + 8 + 8) + s.warm.segments * 4 * DIM  # + column means
    assert s.cold.bytes > s.cold.rows * DIM * 4  # measured on disk
    assert s.demotions["hot->warm"] > 0 and s.demotions["warm->cold"] > 0


def test_search_merges_all_three_tiers(tmp_path: Path) -> None:
    x, q = _data(6000), _data(60, seed=2)
    store = TieredVectorStore(
        # l2 keeps a float32 squared norm per row beside the vectors (hot) or codes (warm)
        DIM, "l2", hot_bytes=(_seg_bytes_hot(1000) + 4000) * 2, warm_bytes=(_seg_bytes_int8(1000) + 12000) * 2,
        segment_rows=1000, cold_dir=tmp_path,
    )
    store.add(np.arange(6000), x)
    s = store.stats()
    assert (s.hot.rows, s.warm.rows, s.cold.rows) == (2000, 2000, 2000)
    truth, truth_scores = _exact(x, q, "l2", 10)
    ids, scores = store.search(q, 10, promote=False)
    assert _recall(ids, truth) >= 0.99
    hit = ids == truth
    np.testing.assert_allclose(scores[hit], truth_scores[hit], rtol=1e-4, atol=1e-3)
    tiers = {store.tier_of(int(i)) for i in truth.ravel()}
    assert tiers == {"hot", "warm", "cold"}  # the true neighbours came from every tier
    raw, _ = store.search(q, 10, promote=False, rescore=0)
    assert _recall(raw, truth) >= 0.97


def test_accessed_segments_are_promoted_and_budgets_hold(tmp_path: Path) -> None:
    x = _data(4000)
    hot_budget, warm_budget = _seg_bytes_hot(1000), _seg_bytes_int8(1000) + 8000
    store = TieredVectorStore(DIM, hot_bytes=hot_budget, warm_bytes=warm_budget, segment_rows=1000, cold_dir=tmp_path)
    store.add(np.arange(4000), x)
    assert store.tier_of(0) == "cold" and store.tier_of(3999) == "hot"
    store.search(x[5], 1)  # row 5's segment answers: cold -> warm
    assert store.tier_of(5) == "warm" and store.stats().promotions["cold->warm"] == 1
    store.search(x[5], 1)  # warm -> hot, restored exactly from the disk copy
    assert store.tier_of(5) == "hot" and store.stats().promotions["warm->hot"] == 1
    ids, scores = store.search(x[5], 1, promote=False)
    assert ids[0] == 5 and scores[0] == pytest.approx(1.0, abs=1e-6)
    s = store.stats()
    assert s.hot.bytes <= hot_budget and s.warm.bytes <= warm_budget
    assert s.hot.rows + s.warm.rows + s.cold.rows == 4000
    assert store.tier_of(3999) in ("warm", "cold")  # the hot segment made room
    store.search(x[5], 1, promote=False)
    assert store.stats().promotions == s.promotions  # promote=False moves nothing


def test_release_frees_memory_by_demotion(tmp_path: Path) -> None:
    x = _data(3000)
    store = TieredVectorStore(DIM, hot_bytes=None, warm_bytes=None, segment_rows=500, cold_dir=tmp_path)
    store.add(np.arange(3000), x)
    before = store.stats()
    assert before.hot.segments == 6
    freed = store.release(1, tier="hot")
    assert freed == before.hot.bytes - store.stats().hot.bytes >= 1
    assert store.stats().hot.segments == 5 and store.stats().warm.segments == 1
    held = store.stats().hot.bytes + store.stats().warm.bytes
    freed = store.release(held)  # everything out of memory: hot -> warm -> cold
    s = store.stats()
    assert freed == held and s.hot.bytes == s.warm.bytes == 0 and s.cold.rows == 3000
    assert store.release(10) == 0
    ids, _ = store.search(x[:5], 1, promote=False)  # still found, from disk
    np.testing.assert_array_equal(ids[:, 0], np.arange(5))


def test_release_without_cold_tier_only_quantizes() -> None:
    store = TieredVectorStore(DIM, hot_bytes=None, warm_bytes=None, segment_rows=100)
    store.add(np.arange(300), _data(300))
    freed = store.release(10**9)
    s = store.stats()
    assert s.hot.rows == 0 and s.warm.rows == 300
    assert freed == _seg_bytes_hot(300) - 3 * _seg_bytes_int8(100)  # net: the int8 copies stay in RAM
    with pytest.raises(ValueError, match="nbytes"):
        store.release(-1)


def test_delete_reaches_every_tier(tmp_path: Path) -> None:
    x = _data(3000)
    store = TieredVectorStore(
        DIM, hot_bytes=_seg_bytes_hot(1000), warm_bytes=_seg_bytes_int8(1000) + 8000,
        segment_rows=1000, cold_dir=tmp_path,
    )
    store.add(np.arange(3000), x)
    gone = np.arange(0, 3000, 3)
    assert store.delete(np.concatenate([gone, [10**9]])) == len(gone)
    assert len(store) == 2000
    ids, _ = store.search(x[:300], 5, promote=False)
    assert not np.isin(ids, gone).any()
    assert store.search(x[1], 1, promote=False)[0][0] == 1
    assert store.delete(np.arange(3000)) == 2000 and len(store) == 0
    assert store.search(x[1], 1)[0].shape == (0,)


@pytest.mark.parametrize("policy", [p for p in POLICY_NAMES if p != "OPT"])
def test_every_online_policy_keeps_budgets_and_finds_everything(policy: str, tmp_path: Path) -> None:
    x = _data(2000)
    hot_budget, warm_budget = _seg_bytes_hot(250) * 2, (_seg_bytes_int8(250) + 2000) * 2
    store = TieredVectorStore(
        DIM, hot_bytes=hot_budget, warm_bytes=warm_budget, segment_rows=250, cold_dir=tmp_path, policy=policy
    )
    store.add(np.arange(2000), x)
    for i in range(0, 2000, 250):
        ids, _ = store.search(x[i + 1], 1)
        assert ids[0] == i + 1
        s = store.stats()
        assert s.hot.bytes <= hot_budget and s.warm.bytes <= warm_budget
        assert s.hot.rows + s.warm.rows + s.cold.rows == 2000


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_with_clear_messages(tmp_path: Path) -> None:
    store = TieredVectorStore(DIM, hot_bytes=None)
    with pytest.raises(ValueError, match="32 columns"):
        store.add([1], np.zeros((1, 31), np.float32))
    bad = _data(3)
    bad[1, 4] = np.nan
    with pytest.raises(ValueError, match="row 1 contains NaN"):
        store.add([1, 2, 3], bad)
    bad[1, 4] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        store.add([1, 2, 3], bad)
    with pytest.raises(ValueError, match="all zeros"):
        store.add([1], np.zeros((1, DIM), np.float32))
    with pytest.raises(ValueError, match="duplicates"):
        store.add([1, 1], _data(2))
    with pytest.raises(ValueError, match="2 ids for 3 vectors"):
        store.add([1, 2], _data(3))
    with pytest.raises(ValueError, match="integers"):
        store.add([1.5], _data(1))
    assert len(store) == 0  # nothing half-added
    store.add([1], _data(1))
    for k in (0, -3, True, 2.5):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            store.search(_data(1)[0], k)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32 columns"):
        store.search(np.zeros(8, np.float32), 3)
    with pytest.raises(ValueError, match="NaN"):
        store.search(np.full(DIM, np.nan, np.float32), 3)
    with pytest.raises(ValueError, match="rescore"):
        store.search(_data(1)[0], 3, rescore=-1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hot_bytes": -1}, "hot_bytes must be a non-negative"),
        ({"warm_bytes": -5}, "warm_bytes must be a non-negative"),
        ({"hot_bytes": 1000, "warm_bytes": 0}, "nowhere to go"),
        ({"hot_bytes": None, "warm_bytes": 1000}, "nowhere to go"),
        ({"hot_bytes": 0, "warm_bytes": 0}, "every tier is disabled"),
        ({"metric": "hamming"}, "metric"),
        ({"warm_dtype": "int4"}, "warm_dtype"),
        ({"segment_rows": 0}, "segment_rows"),
        ({"policy": "OPT", "hot_bytes": None}, "future"),
        ({"policy": "MRU", "hot_bytes": 10**6, "warm_bytes": None}, "unknown policy"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TierConfigError, match=message):
        TieredVectorStore(DIM, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TierConfigError, match="dim"):
        TieredVectorStore(0)


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def test_cuda_refused_without_a_device() -> None:
    if _cuda():
        pytest.skip("a CUDA device is present")
    with pytest.raises(TierConfigError, match="cuda"):
        TieredVectorStore(DIM, device="cuda")
    assert TieredVectorStore(DIM, device="auto").device == "cpu"


@pytest.mark.skipif(not _cuda(), reason="needs torch with a CUDA device")
def test_gpu_hot_tier_matches_numpy(tmp_path: Path) -> None:
    x, q = _data(5000), _data(30, seed=8)
    gpu = TieredVectorStore(DIM, "l2", hot_bytes=_seg_bytes_hot(1000) * 3, segment_rows=1000, cold_dir=tmp_path)
    cpu = TieredVectorStore(DIM, "l2", hot_bytes=None, segment_rows=1000, device="cpu")
    assert gpu.device == "cuda"
    gpu.add(np.arange(5000), x)
    cpu.add(np.arange(5000), x)
    g_ids, g_scores = gpu.search(q, 10, promote=False)
    c_ids, c_scores = cpu.search(q, 10)
    assert _recall(g_ids, c_ids) >= 0.99
    np.testing.assert_allclose(g_scores[g_ids == c_ids], c_scores[g_ids == c_ids], rtol=1e-3, atol=1e-3)
    assert gpu.release(1, tier="hot") > 0


def test_exported_lazily_from_the_memory_package() -> None:
    import exocortex.memory as memory

    assert memory.TieredVectorStore is TieredVectorStore
    assert "TieredVectorStore" in memory.__all__
