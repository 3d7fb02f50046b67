"""Genotypes into call rows, vectorized: one row per (ALT allele, sample) that carries it.

The record-by-record path buffers each record's ``genotype.array()`` and DP/GQ/AD arrays in the
batch; once :data:`GENOTYPE_CHUNK_CELLS` (records x samples) are buffered, elementwise passes over
the stacked (records x samples x ploidy) array find the carrier cells, and everything else
(zygosity, phase, ploidy, GT string from a small cache of encoded genotypes, depths) runs on the
carriers only. The columnar text path hands its carrier cells to the same code
(:meth:`CallBuilder.block_calls`). Calls come out in (vid, sample) order.

The same pass finds the cells that are neither carriers nor called reference: a GT with no called
allele (``./.``, ``.``: a no-call, counted per sample for missingness) or a half call without an
ALT (``0/.``). They become ``missing_calls`` rows, one per allele row of the record, so a sample
with neither a call nor a missing row at a site is hom-ref there and can be said to be. Finding
them costs one comparison per ploidy column; the rest runs on the few cells found. No-calls are
read from the genotype matrix, not from cyvcf2's ``gt_types``, which calls a haploid ``2`` (the
second ALT) UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from exocortex.genomics import textpath
from exocortex.genomics.batch import INT32_MISSING, AllMissing, Batch, concat_parts
from exocortex.genomics.schema import CALLS

GENOTYPE_CHUNK_CELLS = 1 << 21
"""Genotypes (records x samples) buffered before one vectorized pass turns them into calls."""
_HET, _HOM, _HEMI, _HETALT = 0, 1, 2, 3


def format_matrix(arrays: Sequence[Any], n_samples: int, per_allele: bool = False) -> np.ndarray | None:
    """Per-record FORMAT arrays as one int32 (records x samples x values) matrix, missing -> INT32 min.

    ``per_allele`` keeps every value (AD: ref, alt1, ...); otherwise only the first (DP, GQ).
    Float fields (some callers write GQ as Float) are truncated to integers. ``None`` when no
    record has the field (every value missing).
    """
    if all(a is None for a in arrays):
        return None
    width = 1
    if per_allele:
        width = max((a.shape[1] for a in arrays if a is not None and a.ndim == 2), default=1)
    out = np.full((len(arrays), n_samples, width), INT32_MISSING, dtype=np.int32)
    for r, arr in enumerate(arrays):
        if arr is None or arr.ndim != 2 or arr.shape[0] != n_samples or arr.dtype.kind not in "iuf":
            continue
        values = arr[:, :width]
        if values.dtype.kind == "f":
            bad = ~np.isfinite(values)
            values = np.where(bad, INT32_MISSING, values).astype(np.int32)
        else:
            values = values.astype(np.int32)
            values[values < 0] = INT32_MISSING
        out[r, :, : values.shape[1]] = values
    return out


class CallBuilder:
    """Call rows of one file's samples into a :class:`Batch`; ``sample_ids[column]`` is the store's id
    of the file's sample column (a name the store already holds keeps its id)."""

    def __init__(self, n_samples: int, sample_ids: np.ndarray) -> None:
        self.n_samples = n_samples
        self.sample_ids = np.asarray(sample_ids, dtype=np.int32)
        self.gt_cache: dict[tuple[int, int], str] = {}

    def flush_genotypes(self, batch: Batch) -> None:
        """Turn the buffered genotypes into call rows, vectorized over (records x samples)."""
        pending, batch.pending, batch.pending_cells = batch.pending, [], 0
        if not pending:
            return
        n_rec, n_smp = len(pending), self.n_samples
        width = max(p[2].shape[1] for p in pending) - 1  # the widest ploidy in the chunk
        if all(p[2].shape == (n_smp, width + 1) for p in pending):
            stacked = np.stack([p[2] for p in pending])
            alleles, phase = stacked[:, :, :-1], stacked[:, :, -1]
        else:
            alleles = np.full((n_rec, n_smp, width), -2, dtype=np.int16)
            phase = np.zeros((n_rec, n_smp), dtype=np.int16)
            for r, p in enumerate(pending):
                alleles[r, : p[2].shape[0], : p[2].shape[1] - 1] = p[2][:, :-1]
                phase[r, : p[2].shape[0]] = p[2][:, -1]
        vid0 = np.array([p[0] for p in pending], dtype=np.int64)
        n_alts = np.array([p[1] for p in pending], dtype=np.int64)
        dp = format_matrix([p[3] for p in pending], n_smp)
        gq = format_matrix([p[4] for p in pending], n_smp)
        ad = format_matrix([p[5] for p in pending], n_smp, per_allele=True)
        columns = [np.ascontiguousarray(alleles[:, :, j]) for j in range(width)]
        self._calls(batch, columns, phase, vid0, n_alts, dp, gq, ad)

    def block_calls(self, batch: Batch, vids: np.ndarray, cells: textpath.CarrierCells) -> None:
        """Calls of single-ALT diploid records of a fast text block (``cells.line`` indexes ``vids``)."""
        self.flush_genotypes(batch)  # records before these, to keep the calls in vid order
        ones = np.ones(vids.size, dtype=np.int64)
        alleles = [cells.first, cells.second]
        self._carrier_calls(batch, cells.line, cells.sample, alleles, cells.phased, vids, ones, None, None, None)

    def _calls(
        self,
        batch: Batch,
        columns: list[np.ndarray],
        phase: np.ndarray,
        vid0: np.ndarray,
        n_alts: np.ndarray,
        dp: np.ndarray | None,
        gq: np.ndarray | None,
        ad: np.ndarray | None,
    ) -> None:
        """Call rows from allele matrices: ``columns[j]`` holds allele j of every (record, sample), -1 missing,
        -2 past the sample's ploidy; ``phase`` is nonzero where phased; ``vid0`` the first vid per record.
        The cells with a missing allele and no ALT go to :meth:`_missing_cells`."""
        # Carriers first (any allele > 0), by elementwise passes over the ploidy columns; all the
        # rest runs on the carriers only, not on (records x samples x ploidy).
        carrier = columns[0] > 0
        missing = columns[0] == -1
        for j in range(1, len(columns)):
            carrier |= columns[j] > 0
            missing |= columns[j] == -1
        missing &= ~carrier
        lost = np.flatnonzero(missing)
        phase_flat = np.ascontiguousarray(phase).reshape(-1)
        if lost.size:
            r_idx, s_idx = np.divmod(lost, self.n_samples)
            cols = [c.reshape(-1)[lost] for c in columns]
            self._missing_cells(batch, r_idx, s_idx, cols, phase_flat[lost], vid0, n_alts)
        flat = np.flatnonzero(carrier)  # record-major: (record, sample) order
        if flat.size == 0:
            return
        r_idx, s_idx = np.divmod(flat, self.n_samples)
        cols = [c.reshape(-1)[flat] for c in columns]  # (ploidy) x carriers
        self._carrier_calls(batch, r_idx, s_idx, cols, phase_flat[flat], vid0, n_alts, dp, gq, ad)

    def _missing_cells(
        self,
        batch: Batch,
        r_idx: np.ndarray,
        s_idx: np.ndarray,
        cols: list[np.ndarray],
        phases: np.ndarray,
        vid0: np.ndarray,
        n_alts: np.ndarray,
    ) -> None:
        """Cells with a missing allele and no ALT: no-calls counted per sample, and one ``missing_calls``
        row per allele row of the record (an ALT-less record has one row) with the GT as written."""
        no_call = cols[0] < 0
        for c in cols[1:]:
            no_call &= c < 0
        if no_call.any():
            batch.count_no_calls(np.bincount(s_idx[no_call], minlength=self.n_samples).astype(np.int64))
        base = int(n_alts.max()) + 3
        codes, _, _ = _gt_codes(cols, phases, base)
        uniq, inverse = np.unique(codes, return_inverse=True)
        strings = pa.array([self._gt_string(int(u), base, len(cols)) for u in uniq], type=pa.string())
        reps = np.maximum(n_alts[r_idx], 1)
        within = np.arange(int(reps.sum()), dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
        batch.add_missing(
            np.repeat(vid0[r_idx], reps) + within,
            np.repeat(self.sample_ids[s_idx], reps),
            strings.take(pa.array(np.repeat(inverse.reshape(-1), reps))),
        )

    def _carrier_calls(
        self,
        batch: Batch,
        r_idx: np.ndarray,
        s_idx: np.ndarray,
        cols: list[np.ndarray],
        phases: np.ndarray,
        vid0: np.ndarray,
        n_alts: np.ndarray,
        dp: np.ndarray | None,
        gq: np.ndarray | None,
        ad: np.ndarray | None,
    ) -> None:
        """Call rows of carrier cells (record ``r_idx``, sample ``s_idx``, in record-major order), their
        alleles ``cols[j]`` and phase flags; per record ``vid0`` and ``n_alts``, FORMAT matrices by (record, sample)."""
        width = len(cols)
        top_allele = max(int(c.max()) for c in cols)
        base = max(int(n_alts.max()), top_allele) + 3  # digits of the GT code: allele + 2 (0: none, 1: '.')
        codes, pl, phased = _gt_codes(cols, phases, base)
        na = n_alts[r_idx]
        top = min(top_allele, int(n_alts.max()))
        parts: dict[str, list[Any]] = {name: [] for name in CALLS.names if name != "batch"}
        for i in range(1, top + 1):
            count = (cols[0] == i).astype(np.int8)
            for c in cols[1:]:
                count += c == i
            sel = count > 0
            sel &= na >= i  # an allele index past ALT (or any at an ALT-less record) is not a call of this site
            k = np.flatnonzero(sel)
            if k.size == 0:
                continue
            rk, sk = r_idx[k], s_idx[k]
            c, pk = count[k], pl[k]
            other = np.zeros(k.size, dtype=bool)
            for col in cols:
                ck = col[k]
                other |= (ck > 0) & (ck != i)
            zyg = np.where(pk == 1, _HEMI, np.where(c >= pk, _HOM, np.where(other, _HETALT, _HET)))
            parts["vid"].append(vid0[rk] + (i - 1))
            parts["sample"].append(self.sample_ids[sk])
            parts["gt"].append(codes[k])
            parts["zygosity"].append(zyg.astype(np.int8))
            parts["phased"].append(phased[k])
            parts["ploidy"].append(pk)
            missing = AllMissing(k.size)
            parts["dp"].append(missing if dp is None else dp[rk, sk, 0])
            parts["gq"].append(missing if gq is None else gq[rk, sk, 0])
            if ad is None or i >= ad.shape[2]:
                parts["ad_ref"].append(missing if ad is None else ad[rk, sk, 0])
                parts["ad_alt"].append(missing)
            else:
                parts["ad_ref"].append(ad[rk, sk, 0])
                parts["ad_alt"].append(ad[rk, sk, i])
        if not parts["vid"]:
            return
        if len(parts["vid"]) == 1:  # one allele pass: np.nonzero already gave (vid, sample) order
            cat = {name: values[0] for name, values in parts.items()}
        else:
            cat = {name: concat_parts(values) for name, values in parts.items()}
            order = np.lexsort((cat["sample"], cat["vid"]))  # calls in (vid, sample) order
            cat = {name: values if isinstance(values, AllMissing) else values[order] for name, values in cat.items()}
        gt_codes = cat.pop("gt")
        if int(gt_codes.max()) < 1 << 22:
            uniq = np.flatnonzero(np.bincount(gt_codes))
            lut = np.zeros(int(uniq[-1]) + 1, dtype=np.int32)
            lut[uniq] = np.arange(uniq.size, dtype=np.int32)
            inverse = lut[gt_codes]
        else:
            uniq, inverse = np.unique(gt_codes, return_inverse=True)
            inverse = inverse.reshape(-1).astype(np.int32)
        strings = pa.array([self._gt_string(int(u), base, width) for u in uniq], type=pa.string())
        batch.gt_strings.append(strings.take(pa.array(inverse)))
        for name, values in cat.items():
            batch.calls[name].append(values)
        batch.n_calls += int(gt_codes.size)

    def _gt_string(self, code: int, base: int, width: int) -> str:
        key = (code, base)
        text = self.gt_cache.get(key)
        if text is None:
            sep = "|" if code & 1 else "/"
            rest = code >> 1
            parts = []
            for _ in range(width):
                digit = rest % base
                rest //= base
                if digit == 0:
                    continue
                parts.append("." if digit == 1 else str(digit - 2))
            text = self.gt_cache[key] = sep.join(parts)
        return text


def _gt_codes(cols: list[np.ndarray], phases: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: the GT as one integer (allele + 2 per ploidy digit in ``base``, 0 past the ploidy, then
    the phase bit; :meth:`CallBuilder._gt_string` writes it back), the ploidy and whether phased."""
    present = [c >= -1 for c in cols]  # -2 marks a shorter ploidy (vector end)
    pl = present[0].astype(np.int8)
    for pr in present[1:]:
        pl += pr
    phased = (phases != 0) & (pl > 1)
    codes = np.zeros(cols[0].size, dtype=np.int64)
    for j in range(len(cols) - 1, -1, -1):
        codes *= base
        codes += np.where(present[j], cols[j].astype(np.int64) + 2, 0)
    return codes * 2 + phased, pl, phased
