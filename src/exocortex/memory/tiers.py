"""Tiered vector storage: hot float32 (GPU or RAM), warm quantized (RAM), cold on disk (Lance).

Why tiers: embeddings for a large index do not all fit in fast memory, and most queries are
answered by a minority of them. ``TieredVectorStore`` keeps vectors in *segments* (up to
``segment_rows`` rows each: int64 ids plus a float32 matrix) and holds each segment in exactly
one resident tier:

- **hot**: exact float32. A ``torch`` tensor on the GPU when ``device`` is ``"cuda"`` (or
  ``"auto"`` and ``torch.cuda.is_available()``), else a NumPy array in RAM. torch is imported
  lazily and is never required.
- **warm**: RAM, quantized. ``int8`` with one scale per vector, after centring and a fixed
  random rotation (about 4x smaller than float32), or ``float16`` (2x smaller).
- **cold**: a Lance table in ``cold_dir`` (columns ``segment``, ``row_id`` and ``vector``, a
  fixed-size list of float32). Only a row count per segment stays in memory.

**Quantization.** int8 is symmetric with a per-vector scale, applied to *centred, rotated*
rows. When a segment is quantized, its column mean ``c`` (``dim`` float32) is subtracted and the
rows are multiplied by a Haar-random orthogonal ``R`` (``dim x dim`` float32, seeded, one per
store, made on first use): ``y = (x - c) @ R``, then ``scale = max|y| / 127`` and
``codes = round(y / scale)``, so every element of ``y`` is off by at most ``scale / 2``. One
scale per vector (rather than one for the whole matrix) lets each vector use all 255 levels
whatever its norm; a global scale would crush small vectors into a few levels.

Why rotate: a max-abs scale spends the levels on the vector's largest coordinate. Real
embeddings are anisotropic (a few directions carry most of the variance), so without rotation
the step is set by those few coordinates and every other coordinate, most of them small, is
rounded just as coarsely. ``R`` spreads each vector's energy evenly over all coordinates, so
``max|y|`` falls to about 3 standard deviations of a typical coordinate and the step shrinks;
being orthogonal, ``R`` keeps the rounding error's size (``|x - x'| = |y - y'|``) and spreads it
evenly over all directions. Subtracting the mean removes the shared offset real embeddings carry,
which otherwise takes levels from every row. Measured (``benchmarks/cache/quantization.py``,
100k x 384, recall@10 against exact float32): the clustered, power-law benchmark rises from
0.937 (max-abs scale on the raw rows) to 0.972; i.i.d. Gaussian data, already isotropic and
centred, changes little (0.984 to 0.985). Per-dimension standardisation before the
per-vector scale was measured too and is worse (it gives the high-variance coordinates, which
dominate every score, the coarsest steps), as is clipping the scale below ``max|y|``.

Scores against int8 rows are computed *asymmetrically* and exactly for the dequantized row
``x' = c + scale * codes @ R.T``: the query stays float32, is rotated once per search
(``q @ R``), and ``q . x' = scale * ((q @ R) . codes) + q . c``; no query quantization error is
added. NumPy has no int8 GEMM, so the codes of one segment at a time are widened to float32 for
the matrix product (the temporary is bounded by ``segment_rows x dim x 4`` bytes). For ``l2`` the
squared norms ``|x'|^2`` of the dequantized rows (``c`` and ``R`` included) are kept beside the
codes, so ``-|q - x'|^2 = 2 q . x' - |x'|^2 - |q|^2`` is exact for ``x'`` as well. Bytes: ``dim``
(codes) + 4 (scale) + 8 (id) per row, + 8 more per row for the Lance row address when there is a
disk copy, + 4 for the squared norm under ``l2``, + ``4 * dim`` per segment for ``c`` (0.2 bytes
a row at 384 dimensions and 8,192 rows); all of these count against ``warm_bytes``. The
rotation, ``4 * dim^2`` bytes (576 KiB at 384 dimensions), is one per store and is not counted
against a tier. float16 rows are widened the same way. Values beyond float16's range (65504) are
refused at ``add`` when the warm tier is float16.

**Exactness and the disk copy.** When cold storage is configured, a segment's exact float32
rows are written to Lance the first time it lands below hot (demoted, or added while hot cannot
take it), and that copy is kept while the segment is warm (deletes reach it too). So
warm-to-cold demotion is just dropping the quantized copy, and promotion to hot restores exact
float32 from disk, never from quantized values. Without a cold tier, demotion to warm is final:
a warm segment is never promoted back to hot (it could only be dequantized, which is not exact).

**Rescoring.** With ``rescore=r > 0`` (default 4) and a disk copy, each warm segment offers its
``r * k`` best rows by quantized score; the best ``r * k`` of those per query are read back
from Lance by row address (``take_row_ids``, a random read of only those rows, not a scan) and
scored exactly, and only then merged. The returned scores are then exact float32 scores, and a
true neighbour is lost only if it falls outside the quantized shortlist. Warm segments without
a disk copy (no cold tier), or ``rescore=0``, return quantized scores. Both recall@10 figures,
raw and rescored, are measured in ``benchmarks/cache/quantization.py`` and tested on random data.

**Budgets and policy.** ``hot_bytes`` and ``warm_bytes`` bound the bytes each tier holds, as
``arr.nbytes`` of what it keeps (vectors or codes, scales, squared norms and the int64 ids);
``None`` means unbounded and ``0`` disables the tier. Cold is unbounded. The lowest enabled
tier must be unbounded, so demotion always has somewhere to go and nothing is ever dropped.
Each tier tracks its segments in an eviction policy from ``exocortex.memory.policies``
(``make_policy(policy, ...)`` bounded by bytes; unbounded tiers use LRU for ordering only):
adding a segment to a full tier makes the policy choose victims, which are demoted one tier
down (hot to warm quantizes; warm to cold drops the warm copy; hot to cold when warm is
disabled). A segment larger than a tier's whole budget skips that tier.

**Promotion rule.** Every search is brute force over all segments, so "was scanned" says
nothing. A segment is *accessed* when it contributes at least one row to the final top-k of a
search; each accessed segment counts as a hit for its tier's policy and, when
``promote_on_hit`` is set, moves one tier up (cold to warm, or to hot when warm is disabled;
warm to hot when its exact copy is on disk). The upper tier's policy decides admission and
victims (LRU demotes its least recently hit segment; W-TinyLFU may refuse a segment its
frequency sketch has not seen often, which then goes straight back down).

**Search and merge.** Each segment yields its own top-k (``argpartition``; ``torch.topk`` on
the GPU). Cold segments are streamed from Lance in batches of ``cold_batch_rows`` rows, so
memory stays bounded, and folded into a running top-k. All candidates are merged into the
global top-k by score; scores are comparable across tiers because every tier scores the same
function (cosine: dot of unit vectors, as vectors and queries are normalised; ``dot``; ``l2``:
the *negative* squared Euclidean distance), larger is better.

**Memory pressure.** ``release(nbytes)`` demotes hot segments (then warm ones, to cold) in the
policies' eviction order until ``nbytes`` of hot plus warm memory are freed, and returns the
bytes freed; ``release(nbytes, tier="hot")`` frees GPU/hot bytes only. A memory governor calls
it. Every public method takes one lock, so the governor may call from another thread.

Ids are the caller's: ``add`` refuses duplicates inside one call but does not check them against
ids already stored (that would need every id in memory, cold ones included); delete first to
replace a vector.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from exocortex.memory.policies import LRU, OversizeError, Policy, make_policy

Metric: TypeAlias = Literal["cosine", "dot", "l2"]
TierName: TypeAlias = Literal["hot", "warm", "cold"]
WarmDtype: TypeAlias = Literal["int8", "float16"]
Device: TypeAlias = Literal["auto", "cpu", "cuda"]

F32: TypeAlias = NDArray[np.float32]
I64: TypeAlias = NDArray[np.int64]

DEFAULT_HOT_BYTES: Final = 256 * 1024 * 1024
DEFAULT_SEGMENT_ROWS: Final = 8192
FLOAT16_MAX: Final = 65504.0
COLD_TABLE: Final = "vectors"
_UNBOUNDED_BYTES: Final = 1 << 62  # the byte bound of an LRU that only orders an unbounded tier
_DELETE_BATCH: Final = 2000  # ids per Lance delete predicate
_ROTATION_SEED: Final = 0  # the int8 rotation depends only on dim


class TierConfigError(ValueError):
    """The tiers cannot be set up as asked (budgets, device, policy, cold directory)."""


# --------------------------------------------------------------------------- quantization


def quantize_int8(x: ArrayLike) -> tuple[NDArray[np.int8], F32]:
    """Symmetric int8 codes with one scale per row: ``x ~= codes * scales[:, None]``.

    ``scale = max|x| / 127`` per row, so each element's error is at most ``scale / 2``. An
    all-zero row gets scale 0 and codes 0 (it dequantizes to exactly zero).
    """
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"quantize_int8 expects a 2-D matrix, got shape {a.shape}")
    amax = np.abs(a).max(axis=1) if a.shape[1] else np.zeros(a.shape[0], np.float32)
    scales = (amax / np.float32(127.0)).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1.0))
    codes = np.clip(np.rint(a / safe[:, None]), -127, 127).astype(np.int8)
    return codes, scales


def dequantize_int8(codes: NDArray[np.int8], scales: F32) -> F32:
    """The float32 rows that int8 ``codes`` with per-row ``scales`` stand for."""
    out: F32 = codes.astype(np.float32) * scales[:, None]
    return out


def int8_rotation(dim: int, seed: int = 0) -> F32:
    """A seeded Haar-random orthogonal ``(dim, dim)`` float32 matrix (QR of a Gaussian matrix).

    The warm int8 tier multiplies centred rows by it before quantizing; see the module
    docstring. The same ``dim`` and ``seed`` always give the same matrix.
    """
    g = np.random.default_rng(seed).standard_normal((dim, dim))
    qm, rm = np.linalg.qr(g)
    signs = np.where(np.diag(rm) < 0, -1.0, 1.0)  # fix the column signs: Haar-distributed
    out: F32 = np.ascontiguousarray(qm * signs[None, :], dtype=np.float32)
    return out


def quantize_int8_rotated(x: ArrayLike, rotation: F32) -> tuple[NDArray[np.int8], F32, F32]:
    """int8 codes of centred, rotated rows: ``x ~= center + (codes * scales[:, None]) @ rotation.T``.

    ``center`` is the column mean of ``x`` (float32, one per dimension); the rows
    ``(x - center) @ rotation`` are quantized by ``quantize_int8`` (one scale per row).
    """
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"quantize_int8_rotated expects a 2-D matrix, got shape {a.shape}")
    center = a.mean(axis=0, dtype=np.float64).astype(np.float32) if len(a) else np.zeros(a.shape[1], np.float32)
    codes, scales = quantize_int8((a - center[None, :]) @ rotation)
    return codes, scales, center


def dequantize_int8_rotated(codes: NDArray[np.int8], scales: F32, center: F32, rotation: F32) -> F32:
    """The float32 rows that ``quantize_int8_rotated`` codes stand for."""
    out: F32 = (dequantize_int8(codes, scales) @ rotation.T + center[None, :]).astype(np.float32)
    return out


def quantize_float16(x: ArrayLike) -> NDArray[np.float16]:
    """float16 copy of ``x``; values beyond float16's range are refused (they would become inf)."""
    a = np.asarray(x, dtype=np.float32)
    if a.size and float(np.abs(a).max()) > FLOAT16_MAX:
        raise ValueError(f"values beyond +-{FLOAT16_MAX:g} cannot be held as float16; use warm_dtype='int8'")
    return a.astype(np.float16)


# --------------------------------------------------------------------------- top-k helpers


def _topk(scores: F32, k: int) -> tuple[NDArray[np.intp], F32]:
    """Column indices and values of the ``k`` largest scores of each row (unordered)."""
    n = scores.shape[1]
    if n <= k:
        idx = np.broadcast_to(np.arange(n), scores.shape).copy()
    else:
        idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return idx, np.take_along_axis(scores, idx, axis=1)


@dataclass
class _Candidates:
    """Running per-query top-k: ids, scores, source segment and (for rescoring) disk address."""

    k: int
    nq: int
    ids: I64 = field(init=False)
    scores: F32 = field(init=False)
    segs: I64 = field(init=False)
    addrs: I64 = field(init=False)  # -1 where unknown

    def __post_init__(self) -> None:
        self.ids = np.empty((self.nq, 0), np.int64)
        self.scores = np.empty((self.nq, 0), np.float32)
        self.segs = np.empty((self.nq, 0), np.int64)
        self.addrs = np.empty((self.nq, 0), np.int64)

    def fold(self, ids: I64, scores: F32, segs: I64, addrs: I64 | None = None) -> None:
        """Merge new candidates (``(nq, m)`` each) and keep the best ``k`` per query."""
        if addrs is None:
            addrs = np.full(ids.shape, -1, np.int64)
        all_ids = np.concatenate([self.ids, ids], axis=1)
        all_scores = np.concatenate([self.scores, scores], axis=1)
        all_segs = np.concatenate([self.segs, segs], axis=1)
        all_addrs = np.concatenate([self.addrs, addrs], axis=1)
        idx, self.scores = _topk(all_scores, self.k)
        self.ids = np.take_along_axis(all_ids, idx, axis=1)
        self.segs = np.take_along_axis(all_segs, idx, axis=1)
        self.addrs = np.take_along_axis(all_addrs, idx, axis=1)

    def sorted(self) -> tuple[I64, F32, I64]:
        order = np.argsort(-self.scores, axis=1, kind="stable")
        return (
            np.take_along_axis(self.ids, order, axis=1),
            np.take_along_axis(self.scores, order, axis=1),
            np.take_along_axis(self.segs, order, axis=1),
        )


def _finish(scores: F32, sqnorms: F32 | None, qsq: F32 | None) -> F32:
    """Turn dot products into the metric's score: unchanged, or minus the squared L2 distance."""
    if sqnorms is None or qsq is None:
        return scores
    dist = sqnorms[None, :] - 2.0 * scores + qsq[:, None]
    out: F32 = -np.maximum(dist, 0.0).astype(np.float32)
    return out


# --------------------------------------------------------------------------- segments and cold store


@dataclass
class _Segment:
    """One segment; exactly one of ``hot`` / ``codes`` is set unless it lives only on disk."""

    sid: int
    rows: int
    tier: TierName
    ids: I64 | None = None  # None when cold (the ids are on disk)
    hot: Any = None  # float32 NumPy array or torch tensor
    codes: NDArray[np.int8] | NDArray[np.float16] | None = None
    scales: F32 | None = None  # int8 only
    center: F32 | None = None  # int8 only: the column mean subtracted before rotating
    sqnorms: F32 | None = None  # l2 only: of the exact (hot) or dequantized (warm) rows
    on_disk: bool = False  # the exact float32 rows are in the Lance table
    addrs: I64 | None = None  # warm only: Lance row addresses of the disk copy, aligned with ids

    def nbytes(self) -> int:
        """Bytes the resident copy holds (vectors or codes, scales, norms, ids)."""
        total = 0
        if self.ids is not None:
            total += self.ids.nbytes
        if self.hot is not None:
            total += int(self.hot.nbytes) if isinstance(self.hot, np.ndarray) else int(
                self.hot.element_size() * self.hot.nelement()
            )
        for arr in (self.codes, self.scales, self.center, self.sqnorms, self.addrs):
            if arr is not None:
                total += arr.nbytes
        return total


class _ColdStore:
    """The Lance table of exact float32 rows, one append per segment written."""

    def __init__(self, directory: Path, dim: int) -> None:
        import lancedb
        import pyarrow as pa

        self._pa = pa
        self.directory = directory
        self.dim = dim
        directory.mkdir(parents=True, exist_ok=True)
        self.schema = pa.schema(
            [("segment", pa.int64()), ("row_id", pa.int64()), ("vector", pa.list_(pa.float32(), dim))]
        )
        self._db = lancedb.connect(str(directory))
        # The directory is the store's own: a table left by an earlier store is replaced.
        self._table = self._db.create_table(COLD_TABLE, schema=self.schema, mode="overwrite")

    def write(self, sid: int, ids: I64, vectors: F32) -> I64:
        """Append one segment's exact rows; returns their Lance row addresses, aligned with ``ids``."""
        pa = self._pa
        batch = pa.table(
            {
                "segment": pa.array(np.full(len(ids), sid, np.int64)),
                "row_id": pa.array(ids),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vectors).ravel()), self.dim),
            },
            schema=self.schema,
        )
        self._table.add(batch)
        return self.addresses(sid, ids)

    def addresses(self, sid: int, ids: I64) -> I64:
        """The Lance row addresses of segment ``sid``'s rows, aligned with ``ids``."""
        table = self._table.search().where(f"segment = {sid}").select(["row_id"]).with_row_id(True).limit(None)
        written = table.to_arrow()
        return self._align(ids, written.column("row_id").to_numpy(), written.column("_rowid").to_numpy())

    @staticmethod
    def _align(ids: I64, found_ids: Any, found_addrs: Any) -> I64:
        """The address of each of ``ids`` among rows read back as (``found_ids``, ``found_addrs``)."""
        fid = np.asarray(found_ids, dtype=np.int64)
        order = np.argsort(fid, kind="stable")
        pos = np.clip(np.searchsorted(fid[order], ids), 0, max(len(fid) - 1, 0))
        out: I64 = np.asarray(found_addrs, dtype=np.uint64).astype(np.int64)[order][pos]
        return out

    def _vectors(self, column: Any) -> F32:
        flat = column.combine_chunks() if hasattr(column, "combine_chunks") else column
        values = np.asarray(flat.values.to_numpy(zero_copy_only=False), dtype=np.float32)
        return values.reshape(-1, self.dim)

    def read(self, sid: int) -> tuple[I64, F32, I64]:
        """One segment's ids, exact rows and row addresses."""
        query = self._table.search().where(f"segment = {sid}").select(["row_id", "vector"]).with_row_id(True)
        table = query.limit(None).to_arrow()
        ids = np.asarray(table.column("row_id").to_numpy(), dtype=np.int64)
        addrs = np.asarray(table.column("_rowid").to_numpy(), dtype=np.uint64).astype(np.int64)
        return ids, self._vectors(table.column("vector")), addrs

    def take(self, addrs: I64) -> tuple[I64, F32]:
        """Rows at the given (unique) addresses: ``(addresses sorted, vectors in that order)``."""
        table = self._table.take_row_ids(addrs.astype(np.uint64).tolist()).select(["vector"]).with_row_id()
        got = table.to_arrow()
        found = np.asarray(got.column("_rowid").to_numpy(), dtype=np.uint64).astype(np.int64)
        order = np.argsort(found, kind="stable")
        return found[order], self._vectors(got.column("vector"))[order]

    def scan(self, sids: list[int], batch_rows: int) -> Iterator[tuple[I64, I64, F32]]:
        """``(segments, ids, vectors)`` batches of the rows of segments ``sids``."""
        if not sids:
            return
        where = f"segment IN ({','.join(str(s) for s in sids)})"
        query = self._table.search().where(where).select(["segment", "row_id", "vector"]).limit(None)
        for batch in query.to_batches(batch_rows):
            if batch.num_rows == 0:
                continue
            segs = np.asarray(batch.column("segment").to_numpy(), dtype=np.int64)
            ids = np.asarray(batch.column("row_id").to_numpy(), dtype=np.int64)
            yield segs, ids, self._vectors(batch.column("vector"))

    def delete(self, ids: I64) -> dict[int, int]:
        """Delete rows by id; returns how many rows each segment lost."""
        lost: dict[int, int] = {}
        for i in range(0, len(ids), _DELETE_BATCH):
            where = f"row_id IN ({','.join(str(int(v)) for v in ids[i : i + _DELETE_BATCH])})"
            found = self._table.search().where(where).select(["segment"]).limit(None).to_arrow()
            if found.num_rows == 0:
                continue
            segs, counts = np.unique(found.column("segment").to_numpy(), return_counts=True)
            for s, c in zip(segs.tolist(), counts.tolist(), strict=True):
                lost[s] = lost.get(s, 0) + c
            self._table.delete(where)
        return lost

    def disk_bytes(self) -> int:
        total = 0
        for root, _, files in os.walk(self.directory):
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(root, name))
                except OSError:
                    continue
        return total


# --------------------------------------------------------------------------- stats


@dataclass(frozen=True)
class TierStats:
    """One tier: segments and rows held, bytes held (on disk for cold) and its budget."""

    segments: int
    rows: int
    bytes: int
    budget_bytes: int | None  # None: unbounded; 0: disabled


@dataclass(frozen=True)
class StoreStats:
    """Per-tier holdings plus movement counts keyed ``"hot->warm"``, ``"cold->warm"``, ..."""

    hot: TierStats
    warm: TierStats
    cold: TierStats
    promotions: dict[str, int]
    demotions: dict[str, int]
    device: str
    warm_dtype: str
    rescored: int  # warm candidate rows rescored exactly from the disk copy, over all searches


# --------------------------------------------------------------------------- the store


def cuda_available() -> bool:
    """Whether PyTorch is installed and sees a CUDA device (where a hot tier can live)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _check_rescore(value: int, error: type[ValueError] = ValueError) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise error(f"rescore must be a non-negative integer (0 turns rescoring off), got {value!r}")
    return value


def _check_budget(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TierConfigError(f"{name} must be a non-negative number of bytes or None (unbounded), got {value!r}")
    return value


class TieredVectorStore:
    """Vectors in hot (float32, GPU or RAM), warm (int8/float16 RAM) and cold (Lance) segments.

    See the module docstring for the design: budgets, the promotion rule, quantization and how
    results from the tiers are merged.
    """

    def __init__(
        self,
        dim: int,
        metric: Metric = "cosine",
        *,
        hot_bytes: int | None = DEFAULT_HOT_BYTES,
        warm_bytes: int | None = None,
        cold_dir: str | os.PathLike[str] | None = None,
        warm_dtype: WarmDtype = "int8",
        segment_rows: int = DEFAULT_SEGMENT_ROWS,
        policy: str = "LRU",
        device: Device = "auto",
        promote_on_hit: bool = True,
        rescore: int = 4,
        cold_batch_rows: int | None = None,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
            raise TierConfigError(f"dim must be a positive integer, got {dim!r}")
        if metric not in ("cosine", "dot", "l2"):
            raise TierConfigError(f"metric must be 'cosine', 'dot' or 'l2', got {metric!r}")
        if warm_dtype not in ("int8", "float16"):
            raise TierConfigError(f"warm_dtype must be 'int8' or 'float16', got {warm_dtype!r}")
        if isinstance(segment_rows, bool) or not isinstance(segment_rows, int) or segment_rows <= 0:
            raise TierConfigError(f"segment_rows must be a positive integer, got {segment_rows!r}")
        if cold_batch_rows is not None and (not isinstance(cold_batch_rows, int) or cold_batch_rows <= 0):
            raise TierConfigError(f"cold_batch_rows must be a positive integer or None, got {cold_batch_rows!r}")
        if policy == "OPT":
            raise TierConfigError("policy 'OPT' needs the future request sequence; choose an online policy")
        self.dim = dim
        self.metric: Metric = metric
        self.warm_dtype: WarmDtype = warm_dtype
        self.segment_rows = segment_rows
        self.cold_batch_rows = cold_batch_rows or segment_rows
        self.promote_on_hit = promote_on_hit
        self.rescore = _check_rescore(rescore, TierConfigError)
        self._rotation: F32 | None = None  # int8 only, made on first quantization
        self.rescored = 0  # candidate rows whose quantized score was replaced by the exact one
        self.policy_name = policy
        self._budgets: dict[TierName, int | None] = {
            "hot": _check_budget("hot_bytes", hot_bytes),
            "warm": _check_budget("warm_bytes", warm_bytes),
        }
        pair: tuple[TierName, TierName] = ("hot", "warm")
        enabled = [t for t in pair if self._budgets[t] != 0]
        if cold_dir is None:
            if not enabled:
                raise TierConfigError("every tier is disabled: give hot_bytes, warm_bytes or cold_dir")
            lowest = enabled[-1]
            if self._budgets[lowest] is not None:
                raise TierConfigError(
                    f"the {lowest} tier is the lowest and is bounded ({lowest}_bytes={self._budgets[lowest]}), "
                    "so demoted vectors would have nowhere to go: give cold_dir or make it unbounded (None)"
                )
        if device == "auto":
            self.device = "cuda" if cuda_available() else "cpu"
        elif device == "cuda":
            if not cuda_available():
                raise TierConfigError("device='cuda' but torch is not installed or sees no CUDA device")
            self.device = "cuda"
        elif device == "cpu":
            self.device = "cpu"
        else:
            raise TierConfigError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        self._policies: dict[TierName, Policy[Any, Any] | None] = {}
        for tier in ("hot", "warm"):
            budget = self._budgets[tier]
            if budget == 0:
                self._policies[tier] = None
            elif budget is None:
                self._policies[tier] = LRU(max_bytes=_UNBOUNDED_BYTES)
            else:
                try:
                    self._policies[tier] = make_policy(policy, [], None, budget)
                except ValueError as exc:
                    raise TierConfigError(str(exc)) from exc
        self._cold = _ColdStore(Path(cold_dir), dim) if cold_dir is not None else None
        self._segments: dict[int, _Segment] = {}
        self._next_sid = 0
        self._tail: int | None = None  # the segment later adds may still fill
        self._lock = threading.RLock()
        self.promotions: dict[str, int] = {"warm->hot": 0, "cold->warm": 0, "cold->hot": 0}
        self.demotions: dict[str, int] = {"hot->warm": 0, "warm->cold": 0, "hot->cold": 0}

    # -- validation --------------------------------------------------------------------

    def _enabled(self, tier: TierName) -> bool:
        return self._cold is not None if tier == "cold" else self._budgets[tier] != 0

    def _check_matrix(self, vectors: ArrayLike, what: str) -> F32:
        a = np.asarray(vectors, dtype=np.float32)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] != self.dim:
            raise ValueError(f"{what} must have {self.dim} columns (the store's dim), got shape {np.shape(vectors)}")
        if not np.isfinite(a).all():
            bad = int(np.flatnonzero(~np.isfinite(a).all(axis=1))[0])
            raise ValueError(f"{what} row {bad} contains NaN or infinity; every value must be finite")
        if self.metric == "cosine":
            norms = np.linalg.norm(a, axis=1)
            if (norms == 0).any():
                bad = int(np.flatnonzero(norms == 0)[0])
                raise ValueError(f"{what} row {bad} is all zeros, which has no direction for cosine similarity")
            a = a / norms[:, None]
        return np.ascontiguousarray(a, dtype=np.float32)

    # -- adding ------------------------------------------------------------------------

    def add(self, ids: ArrayLike, vectors: ArrayLike) -> None:
        """Store ``vectors`` (``(n, dim)``) under int64 ``ids`` (``(n,)``, unique in this call)."""
        id_arr = np.asarray(ids)
        if id_arr.ndim == 0:
            id_arr = id_arr[None]
        if id_arr.ndim != 1 or (id_arr.size and id_arr.dtype.kind not in "iu"):
            raise ValueError(f"ids must be a 1-D array of integers, got dtype {id_arr.dtype} and shape {id_arr.shape}")
        x = self._check_matrix(vectors, "vectors")
        if len(id_arr) != len(x):
            raise ValueError(f"got {len(id_arr)} ids for {len(x)} vectors; give one id per vector")
        id64 = id_arr.astype(np.int64)
        if len(np.unique(id64)) != len(id64):
            raise ValueError("ids contain duplicates; each vector needs its own id")
        if self.warm_dtype == "float16" and self._enabled("warm") and x.size and float(np.abs(x).max()) > FLOAT16_MAX:
            raise ValueError(f"vectors hold values beyond +-{FLOAT16_MAX:g}, which float16 cannot hold; use int8")
        if len(x) == 0:
            return
        with self._lock:
            start = self._fill_tail(id64, x)
            for i in range(start, len(x), self.segment_rows):
                self._place_new(id64[i : i + self.segment_rows], x[i : i + self.segment_rows])

    def _fill_tail(self, ids: I64, x: F32) -> int:
        """Append to the last segment while it is hot, has no disk copy yet and has room."""
        seg = self._segments.get(self._tail) if self._tail is not None else None
        if seg is None or seg.tier != "hot" or seg.on_disk or seg.rows >= self.segment_rows:
            return 0
        take = min(self.segment_rows - seg.rows, len(x))
        budget = self._budgets["hot"]
        if budget is not None and seg.nbytes() * (seg.rows + take) // seg.rows > budget:
            return 0
        assert seg.ids is not None
        old = self._to_numpy(seg.hot)
        self._set_hot(seg, np.concatenate([seg.ids, ids[:take]]), np.concatenate([old, x[:take]]))
        self._settle("hot", self._policy("hot").set(seg.sid, seg.sid, seg.nbytes()))
        return take

    def _policy(self, tier: TierName) -> Policy[Any, Any]:
        policy = self._policies[tier]
        assert policy is not None, f"{tier} tier is disabled"
        return policy

    def _place_new(self, ids: I64, x: F32) -> None:
        sid = self._next_sid
        self._next_sid += 1
        seg = _Segment(sid=sid, rows=len(ids), tier="hot")
        self._segments[sid] = seg
        self._tail = sid
        for tier in ("hot", "warm"):
            if self._enabled(tier) and self._admit(seg, tier, ids, x):
                return
        self._to_cold(seg, ids, x)

    def _admit(self, seg: _Segment, tier: TierName, ids: I64, x: F32) -> bool:
        """Hold ``seg`` in ``tier`` (exact ``x`` given) and demote the victims; False if it cannot fit."""
        if tier == "hot":
            self._set_hot(seg, ids, x)
        else:
            self._ensure_disk_copy(seg, ids, x)
            if seg.on_disk and seg.addrs is None and self._cold is not None:
                seg.addrs = self._cold.addresses(seg.sid, ids)  # for rescoring; hot copies keep none
            self._set_warm(seg, ids, x)
        try:
            evicted = self._policy(tier).set(seg.sid, seg.sid, seg.nbytes())
        except OversizeError:
            seg.ids = seg.hot = seg.codes = seg.scales = seg.center = seg.sqnorms = seg.addrs = None
            return False
        self._settle(tier, evicted)
        return True

    def _settle(self, tier: TierName, evicted: list[Any]) -> None:
        for entry in evicted:
            self._demote(self._segments[entry.key], tier)

    # -- holding a segment in a tier ---------------------------------------------------

    def _set_hot(self, seg: _Segment, ids: I64, x: F32) -> None:
        seg.tier, seg.ids, seg.rows = "hot", ids, len(ids)
        seg.codes = seg.scales = seg.center = seg.addrs = None  # addresses serve only warm rescoring
        seg.sqnorms = np.einsum("ij,ij->i", x, x).astype(np.float32) if self.metric == "l2" else None
        if self.device == "cuda":
            import torch

            seg.hot = torch.from_numpy(np.ascontiguousarray(x)).to("cuda")
        else:
            seg.hot = np.ascontiguousarray(x)

    def _set_warm(self, seg: _Segment, ids: I64, x: F32) -> None:
        seg.tier, seg.ids, seg.rows, seg.hot = "warm", ids, len(ids), None
        if self.warm_dtype == "int8":
            rotation = self._int8_rotation()
            seg.codes, seg.scales, seg.center = quantize_int8_rotated(x, rotation)
            approx = (
                dequantize_int8_rotated(seg.codes, seg.scales, seg.center, rotation) if self.metric == "l2" else None
            )
        else:
            seg.codes, seg.scales, seg.center = quantize_float16(x), None, None
            approx = seg.codes.astype(np.float32) if self.metric == "l2" else None
        seg.sqnorms = np.einsum("ij,ij->i", approx, approx).astype(np.float32) if approx is not None else None

    def _int8_rotation(self) -> F32:
        """The store's rotation for int8 codes, made on first use (``dim x dim`` float32)."""
        if self._rotation is None:
            self._rotation = int8_rotation(self.dim, _ROTATION_SEED)
        return self._rotation

    def _to_cold(self, seg: _Segment, ids: I64, x: F32) -> None:
        assert self._cold is not None, "no tier could take the segment"
        self._ensure_disk_copy(seg, ids, x)
        seg.tier, seg.rows = "cold", len(ids)
        seg.ids = seg.hot = seg.codes = seg.scales = seg.center = seg.sqnorms = seg.addrs = None

    def _ensure_disk_copy(self, seg: _Segment, ids: I64, x: F32) -> None:
        """Write the exact rows to Lance the first time a segment lands below hot."""
        if self._cold is not None and not seg.on_disk:
            seg.addrs = self._cold.write(seg.sid, ids, x)
            seg.on_disk = True

    @staticmethod
    def _to_numpy(hot: Any) -> F32:
        if isinstance(hot, np.ndarray):
            return hot
        out: F32 = hot.detach().to("cpu").numpy()
        return out

    def _demote(self, seg: _Segment, tier: TierName) -> None:
        """Move ``seg`` (already out of ``tier``'s policy) one tier down."""
        if tier == "hot":
            assert seg.ids is not None
            ids, x = seg.ids, self._to_numpy(seg.hot)
            self._ensure_disk_copy(seg, ids, x)
            if self._enabled("warm") and self._admit(seg, "warm", ids, x):
                self.demotions["hot->warm"] += 1
                return
            self.demotions["hot->cold"] += 1
            self._to_cold(seg, ids, x)
        else:
            assert seg.on_disk and seg.ids is not None, "a warm segment leaves only with its disk copy"
            self.demotions["warm->cold"] += 1
            seg.tier = "cold"
            seg.ids = seg.hot = seg.codes = seg.scales = seg.center = seg.sqnorms = seg.addrs = None

    @staticmethod
    def _tier(seg: _Segment) -> TierName:
        return seg.tier  # read afresh: admission may have moved the segment

    def _promote(self, seg: _Segment) -> None:
        """Move an accessed segment one tier up when the rules allow (see the module docstring)."""
        if seg.tier == "hot":
            return
        if seg.tier == "warm":
            if not (self._enabled("hot") and seg.on_disk and self._cold is not None):
                return
            self._policy("warm").delete(seg.sid)
            self._policy("hot").get(seg.sid)  # a miss: frequency-aware policies count the request
            ids, x, seg.addrs = self._cold.read(seg.sid)
            if not self._admit(seg, "hot", ids, x):
                self._admit(seg, "warm", ids, x)
            if self._tier(seg) == "hot":  # not when the hot policy refused it and sent it back down
                self.promotions["warm->hot"] += 1
            return
        assert self._cold is not None
        target: TierName | None = "warm" if self._enabled("warm") else "hot" if self._enabled("hot") else None
        if target is None:
            return
        self._policy(target).get(seg.sid)
        ids, x, seg.addrs = self._cold.read(seg.sid)
        seg.rows = len(ids)
        if not self._admit(seg, target, ids, x):
            seg.tier = "cold"  # larger than the whole tier: it stays on disk
        if self._tier(seg) == target:
            self.promotions[f"cold->{target}"] += 1

    # -- searching ---------------------------------------------------------------------

    def search(
        self, query: ArrayLike, k: int, *, promote: bool | None = None, rescore: int | None = None
    ) -> tuple[I64, F32]:
        """The ``k`` best ids and scores (larger is better) over all tiers, best first.

        ``query`` is ``(dim,)`` (results ``(k,)``) or ``(nq, dim)`` (results ``(nq, k)``); fewer
        than ``k`` columns come back when the store holds fewer vectors. ``promote`` and
        ``rescore`` override the store's ``promote_on_hit`` and ``rescore`` for this call.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        k = int(k)
        factor = self.rescore if rescore is None else _check_rescore(rescore)
        single = np.ndim(query) == 1
        q = self._check_matrix(query, "query")
        qsq = np.einsum("ij,ij->i", q, q).astype(np.float32) if self.metric == "l2" else None
        with self._lock:
            best = _Candidates(k, len(q))
            shortlist = _Candidates(k * factor, len(q)) if factor else None  # warm rows to rescore
            q_dev: Any = None
            q_rot = q @ self._rotation if self._rotation is not None else None  # once per search
            cold_sids: list[int] = []
            for seg in self._segments.values():
                if seg.tier == "cold":
                    cold_sids.append(seg.sid)
                    continue
                assert seg.ids is not None
                if seg.hot is not None and not isinstance(seg.hot, np.ndarray):
                    if q_dev is None:
                        import torch

                        q_dev = torch.from_numpy(q).to(seg.hot.device)
                    idx, vals = self._search_torch(seg, q_dev, qsq, k)
                elif shortlist is not None and seg.tier == "warm" and seg.addrs is not None:
                    idx, vals = _topk(self._scores_numpy(seg, q, qsq, q_rot), shortlist.k)
                    shortlist.fold(seg.ids[idx], vals, np.full(idx.shape, seg.sid, np.int64), seg.addrs[idx])
                    continue
                else:
                    idx, vals = _topk(self._scores_numpy(seg, q, qsq, q_rot), k)
                best.fold(seg.ids[idx], vals, np.full(idx.shape, seg.sid, np.int64))
            if shortlist is not None and shortlist.ids.size:
                self._rescore(shortlist, q, qsq)
                best.fold(shortlist.ids, shortlist.scores, shortlist.segs)
            if self._cold is not None:
                for segs, ids, x in self._cold.scan(cold_sids, self.cold_batch_rows):
                    sq = np.einsum("ij,ij->i", x, x).astype(np.float32) if qsq is not None else None
                    idx, vals = _topk(_finish(q @ x.T, sq, qsq), k)
                    best.fold(ids[idx], vals, segs[idx])
            out_ids, out_scores, out_segs = best.sorted()
            if self.promote_on_hit if promote is None else promote:
                self._record_hits(out_segs)
        if single:
            return out_ids[0], out_scores[0]
        return out_ids, out_scores

    def _rescore(self, shortlist: _Candidates, q: F32, qsq: F32 | None) -> None:
        """Replace the quantized scores of warm candidates by exact ones from the disk copy."""
        assert self._cold is not None
        wanted = np.unique(shortlist.addrs[shortlist.addrs >= 0])
        found, vectors = self._cold.take(wanted)
        if len(found) == 0:
            return
        pos = np.clip(np.searchsorted(found, shortlist.addrs), 0, len(found) - 1)
        hit = found[pos] == shortlist.addrs
        step = max(1, (64 << 20) // max(1, shortlist.k * self.dim * 4))  # queries per ~64 MB gather
        for start in range(0, len(q), step):
            rows = slice(start, start + step)
            gathered = vectors[pos[rows]]  # (queries, candidates, dim)
            dots = np.einsum("qcd,qd->qc", gathered, q[rows]).astype(np.float32)
            if qsq is not None:
                sq = np.einsum("qcd,qcd->qc", gathered, gathered)
                dots = -np.maximum(sq - 2.0 * dots + qsq[rows, None], 0.0).astype(np.float32)
            shortlist.scores[rows] = np.where(hit[rows], dots, shortlist.scores[rows])
        self.rescored += int(hit.sum())

    def _scores_numpy(self, seg: _Segment, q: F32, qsq: F32 | None, q_rot: F32 | None = None) -> F32:
        """Scores of every row of a hot or warm segment; ``q_rot`` is ``q @ rotation`` (int8 only)."""
        if seg.hot is not None:
            dots = q @ seg.hot.T
        else:
            assert seg.codes is not None
            if seg.scales is not None:  # int8: q . x = (q @ R) . (scale * codes) + q . center
                assert seg.center is not None
                qr = q @ self._int8_rotation() if q_rot is None else q_rot
                dots = qr @ seg.codes.astype(np.float32).T
                dots *= seg.scales[None, :]
                dots += (q @ seg.center)[:, None]
            else:
                dots = q @ seg.codes.astype(np.float32).T
        return _finish(dots.astype(np.float32, copy=False), seg.sqnorms, qsq)

    def _search_torch(self, seg: _Segment, q_dev: Any, qsq: F32 | None, k: int) -> tuple[NDArray[np.intp], F32]:
        import torch

        dots = q_dev @ seg.hot.T
        if qsq is not None and seg.sqnorms is not None:
            sq = torch.from_numpy(seg.sqnorms).to(dots.device)
            qq = torch.from_numpy(qsq).to(dots.device)
            dots = -torch.clamp(sq[None, :] - 2.0 * dots + qq[:, None], min=0.0)
        vals, idx = torch.topk(dots, min(k, dots.shape[1]), dim=1)
        return idx.cpu().numpy().astype(np.intp), vals.cpu().numpy().astype(np.float32)

    def _record_hits(self, segs: I64) -> None:
        """Count a hit for every segment in the results, most-hit first, and promote them."""
        sids, counts = np.unique(segs, return_counts=True)
        for sid in sids[np.argsort(-counts, kind="stable")].tolist():
            seg = self._segments.get(sid)
            if seg is None:
                continue
            if seg.tier != "cold":
                self._policy(seg.tier).get(sid)
            self._promote(seg)

    # -- deleting and releasing --------------------------------------------------------

    def delete(self, ids: ArrayLike) -> int:
        """Remove every stored vector whose id is in ``ids``; returns how many rows went."""
        id_arr = np.asarray(ids)
        if id_arr.ndim == 0:
            id_arr = id_arr[None]
        if id_arr.size and id_arr.dtype.kind not in "iu":
            raise ValueError(f"ids must be integers, got dtype {id_arr.dtype}")
        targets = np.unique(id_arr.astype(np.int64))
        if targets.size == 0:
            return 0
        removed = 0
        with self._lock:
            lost = self._cold.delete(targets) if self._cold is not None else {}
            for seg in list(self._segments.values()):
                if seg.tier == "cold":
                    gone = lost.get(seg.sid, 0)
                    removed += gone
                    seg.rows -= gone
                    if seg.rows <= 0:
                        self._forget(seg)
                    continue
                assert seg.ids is not None
                keep = ~np.isin(seg.ids, targets)
                gone = int((~keep).sum())
                if gone == 0:
                    continue
                removed += gone
                if not keep.any():
                    self._forget(seg)
                    continue
                seg.addrs = seg.addrs[keep] if seg.addrs is not None else None
                if seg.tier == "hot":
                    self._set_hot(seg, seg.ids[keep], self._to_numpy(seg.hot)[keep])
                else:
                    assert seg.codes is not None
                    seg.ids, seg.rows, seg.codes = seg.ids[keep], int(keep.sum()), seg.codes[keep]
                    seg.scales = seg.scales[keep] if seg.scales is not None else None
                    seg.sqnorms = seg.sqnorms[keep] if seg.sqnorms is not None else None
                self._settle(seg.tier, self._policy(seg.tier).set(seg.sid, seg.sid, seg.nbytes()))
        return removed

    def _forget(self, seg: _Segment) -> None:
        if seg.tier != "cold":
            self._policy(seg.tier).delete(seg.sid)
        del self._segments[seg.sid]
        if self._tail == seg.sid:
            self._tail = None

    def _pop_victim(self, tier: TierName) -> _Segment | None:
        """The segment ``tier``'s policy would evict next, removed from the policy."""
        policy = self._policies[tier]
        if policy is None or len(policy) == 0:
            return None
        (victim,) = policy.evict(1)  # one entry: the one the policy would give up to make room
        return self._segments[victim.key]

    def release(self, nbytes: int, tier: TierName | None = None) -> int:
        """Free at least ``nbytes`` by demotion if possible; returns the bytes freed.

        ``tier=None`` frees hot plus warm memory together (hot segments first, then warm ones
        to cold, which needs a cold tier); ``tier="hot"`` or ``"warm"`` frees that tier only.
        Freed bytes are net: quantized copies written into warm count against what hot freed.
        """
        if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
            raise ValueError(f"nbytes must be a non-negative integer, got {nbytes!r}")
        if tier not in (None, "hot", "warm"):
            raise ValueError(f"tier must be None, 'hot' or 'warm', got {tier!r}")
        with self._lock:
            watched: tuple[TierName, ...] = ("hot", "warm") if tier is None else (tier,)

            def held() -> int:
                return sum(self._tier_bytes(t) for t in watched)

            start = held()
            for source in ("hot", "warm"):
                if tier is not None and source != tier:
                    continue
                if self._cold is None and (source == "warm" or not self._enabled("warm")):
                    continue  # nowhere to demote to
                while start - held() < nbytes:
                    seg = self._pop_victim(source)
                    if seg is None:
                        break
                    self._demote(seg, source)
            return max(0, start - held())

    # -- inspection --------------------------------------------------------------------

    def _tier_bytes(self, tier: TierName) -> int:
        return sum(s.nbytes() for s in self._segments.values() if s.tier == tier)

    def __len__(self) -> int:
        with self._lock:
            return sum(s.rows for s in self._segments.values())

    def tier_of(self, vector_id: int) -> TierName | None:
        """The tier holding ``vector_id`` (cold when it is in no resident tier but on disk)."""
        with self._lock:
            for seg in self._segments.values():
                if seg.ids is not None and (seg.ids == vector_id).any():
                    return seg.tier
            if self._cold is not None:
                found = self._cold._table.count_rows(f"row_id = {int(vector_id)}")
                return "cold" if found else None
            return None

    def stats(self) -> StoreStats:
        """Segments, rows and bytes per tier, and how many promotions and demotions happened."""
        with self._lock:

            def tier_stats(tier: TierName) -> TierStats:
                segs = [s for s in self._segments.values() if s.tier == tier]
                if tier != "cold":
                    held, budget = sum(s.nbytes() for s in segs), self._budgets[tier]
                elif self._cold is not None:  # the whole table: warm and hot segments' disk copies too
                    held, budget = self._cold.disk_bytes(), None
                else:
                    held, budget = 0, 0
                return TierStats(len(segs), sum(s.rows for s in segs), held, budget)

            return StoreStats(
                hot=tier_stats("hot"),
                warm=tier_stats("warm"),
                cold=tier_stats("cold"),
                promotions=dict(self.promotions),
                demotions=dict(self.demotions),
                device=self.device,
                warm_dtype=self.warm_dtype,
                rescored=self.rescored,
            )

    def __repr__(self) -> str:
        s = self.stats()
        return (
            f"TieredVectorStore(dim={self.dim}, metric={self.metric!r}, hot={s.hot.rows} rows/{s.hot.bytes} B, "
            f"warm={s.warm.rows} rows/{s.warm.bytes} B ({self.warm_dtype}), cold={s.cold.rows} rows)"
        )
