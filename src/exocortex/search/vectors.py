"""The semantic signal's chunk vectors: made once per search segment, held in the memory layer's tiers.

**On disk.** Each search segment (a base, or a delta of the files changed since its base: see
:mod:`.cache`) gets a folder of its own beside it, ``vectors-<model digest>-<segment>``, holding
``vectors.npy`` (one float16 row per chunk document of the segment, in its document order) and
``vectors.json`` (the model's name, the rows, the segment whose IDF weighted the terms). It is
written like every search folder: under a temporary name, with the size and xxh3 of each file
in ``done``, then renamed, and checked before use. So

- vectors are made incrementally: a commit that changed a few files embeds only their chunks
  (the delta's); an unchanged base keeps its vectors;
- the model that made them is in the folder's name and its ``vectors.json``: another model (a new
  package version, a changed weights file) makes new folders and never reads the old ones, which
  go when their segment goes; nothing else is rebuilt;
- a damaged or half-written folder is removed and made again.

A delta's terms are weighted with its base's IDF (the statistics of the corpus it extends), so
base and delta vectors live on one scale.

**In memory.** A base's vectors are loaded into a :class:`~exocortex.memory.tiers.TieredVectorStore`
(hot float32 in RAM, or on the GPU when PyTorch sees one, up to ``vector_hot_bytes``; the rest
warm, int8) that is kept across the commits built on that base, and registered with the
engine's memory governor (kind ``vectors``: under memory pressure hot segments are demoted to
int8) and its statistics (``exocortex status``, ``Index.memory_stats()``). A delta's few rows stay
float32 and are scored exactly. Base documents that a later commit changed or removed are
dropped from the results through the view's document map.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.log import get_logger
from exocortex.search import semantic
from exocortex.search.cache import (
    DONE_FILE,
    SEGMENTS_DIRNAME,
    VECTORS_INFO_FILE,
    VECTORS_PREFIX,
    folder_damage,
    remove_folder,
    write_folder,
)
from exocortex.search.lexical import find_sorted

if TYPE_CHECKING:
    from exocortex.config import Config
    from exocortex.memory.tiers import Device, TieredVectorStore
    from exocortex.search.cache import SearchData
    from exocortex.search.lexical import LexicalIndex
    from exocortex.search.segment import Segment

VECTORS_FILE = "vectors.npy"
HELD_BASES = 2
"""Bases whose tiers this process keeps (the current one, and one being replaced)."""

log = get_logger(__name__)
_lock = threading.Lock()
_bases: dict[str, BaseVectors] = {}
_checked: set[str] = set()


def model_digest(model: semantic.StaticModel) -> str:
    return model.name.rsplit("@", 1)[-1]


def folder_name(model: semantic.StaticModel, segment_name: str) -> str:
    return f"{VECTORS_PREFIX}{model_digest(model)}-{segment_name}"


def term_weights(index: LexicalIndex, stats: LexicalIndex) -> np.ndarray:
    """The IDF, in ``stats``'s statistics, of every term of ``index`` (df 0 for terms ``stats`` lacks)."""
    df_stats = np.diff(np.asarray(stats.term_offsets, np.int64))
    if index is stats:
        df = df_stats
    else:
        pos = pc.index_in(index.vocab, value_set=stats.vocab)
        found = pos.is_valid().to_numpy(zero_copy_only=False)
        df = np.zeros(len(index.vocab), np.int64)
        df[found] = df_stats[pos.drop_null().to_numpy()]
    return semantic.idf(df, stats.num_docs)


def segment_vectors(segments: Path, segment: Segment, stats: Segment,
                    model: semantic.StaticModel) -> np.ndarray:
    """The vectors of ``segment``'s chunk documents (float16, memory-mapped), made and written
    when this model has none for it; ``stats`` is the segment whose IDF weights the terms."""
    name = folder_name(model, segment.name)
    folder = segments / name
    rows = segment.chunks.num_docs
    if (folder / DONE_FILE).exists():
        problem = None if str(folder) in _checked else folder_damage(folder)
        if problem is None:
            try:
                info = json.loads((folder / VECTORS_INFO_FILE).read_text(encoding="utf-8"))
                vecs: np.ndarray = np.load(folder / VECTORS_FILE, mmap_mode="r")
                if info.get("model") == model.name and vecs.shape == (rows, model.dim):
                    _checked.add(str(folder))
                    return vecs
                problem = f"made by {info.get('model')!r} with shape {vecs.shape}"
            except (OSError, ValueError) as exc:
                problem = f"unreadable: {exc}"
        log.warning("search vectors damaged: making them again", folder=str(folder), problem=problem)
        _checked.discard(str(folder))
        remove_folder(folder)
    weights = term_weights(segment.chunks, stats.chunks)
    index = segment.chunks
    made = semantic.chunk_vectors(model, index.vocab, index.term_offsets, index.post_docs, index.num_docs, weights)

    def fill(tmp: Path) -> None:
        np.save(tmp / VECTORS_FILE, made.astype(np.float16))
        info = {"model": model.name, "rows": rows, "dim": model.dim, "segment": segment.name, "idf_from": stats.name}
        (tmp / VECTORS_INFO_FILE).write_text(json.dumps(info) + "\n")

    written = write_folder(segments, name, fill)
    _checked.add(str(written))
    for other in segments.glob(f"{VECTORS_PREFIX}*-{segment.name}"):
        if other.name != name:  # another model's vectors of this segment: never read again
            remove_folder(other)
    loaded: np.ndarray = np.load(written / VECTORS_FILE, mmap_mode="r")
    return loaded


@dataclass(slots=True)
class BaseVectors:
    """A base segment's vectors in tiers, and the IDF its terms were weighted with."""

    folder: str
    tiers: TieredVectorStore
    vocab: pa.Array
    idf: np.ndarray
    num_docs: int


@dataclass(slots=True)
class CommitVectors:
    """What a commit's semantic search reads: its base's tiers, the delta's rows, the document maps."""

    model: semantic.StaticModel
    base: BaseVectors
    base_doc: np.ndarray | None  # base doc -> global doc (-1: changed or removed since); None: identity
    delta: np.ndarray | None  # float32 rows of the delta's documents
    delta_doc: np.ndarray | None  # delta doc -> global doc
    dropped: int  # base docs mapped to -1

    def query(self, weighted_terms: dict[str, float]) -> np.ndarray | None:
        """The query's vector, its terms weighted with the base's IDF."""
        if not weighted_terms:
            return None
        unseen = float(semantic.idf(np.zeros(1, np.int64), self.base.num_docs)[0])
        idf_of = {}
        for term in weighted_terms:
            tid = find_sorted(self.base.vocab, term)  # binary search: a query has a few dozen terms
            idf_of[term] = float(self.base.idf[tid]) if tid >= 0 else unseen
        return semantic.query_vector(self.model, weighted_terms, idf_of)

    def search(self, qv: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar live chunks: (global doc ids, cosine similarities), best first."""
        tiers = self.base.tiers
        want = min(k + self.dropped, len(tiers))
        docs: list[np.ndarray] = []
        sims: list[np.ndarray] = []
        if want > 0:
            ids, scores = tiers.search(qv, want)
            ids = np.asarray(ids, np.int64)
            if self.base_doc is not None:
                ids = self.base_doc[ids]
                keep = ids >= 0
                ids, scores = ids[keep], scores[keep]
            docs.append(ids)
            sims.append(np.asarray(scores, np.float32))
        if self.delta is not None and self.delta_doc is not None and len(self.delta):
            s = self.delta @ qv
            docs.append(self.delta_doc.astype(np.int64))
            sims.append(s.astype(np.float32))
        if not docs:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        all_docs, all_sims = np.concatenate(docs), np.concatenate(sims)
        order = np.lexsort((all_docs, -all_sims))[:k]
        return all_docs[order], all_sims[order]


def _base_tiers(folder: Path, segment: Segment, vecs: np.ndarray, config: Config) -> BaseVectors:
    from exocortex.memory.engine import engine_memory

    key = str(folder)
    with _lock:  # held while loading: two searches of one new base load it once
        held = _bases.get(key)
        if held is not None:
            return held
        held = _load_base(key, segment, vecs, config)
        memory = engine_memory(config)
        memory.governor.register(f"vector-tiers:{key}", held.tiers.release, kind="vectors")
        memory.register_vectors(key, held.tiers)
        _bases[key] = held
        while len(_bases) > HELD_BASES:
            old = _bases.pop(next(iter(_bases)))
            memory.governor.unregister(f"vector-tiers:{old.folder}")
            memory.unregister_vectors(old.folder)
        return held


def _load_base(key: str, segment: Segment, vecs: np.ndarray, config: Config) -> BaseVectors:
    """A base's vectors (float16 on disk) in a new ``TieredVectorStore``, with its IDF."""
    from exocortex.memory.tiers import TieredVectorStore

    tiers = TieredVectorStore(vecs.shape[1], "dot", hot_bytes=config.vector_hot_bytes, warm_bytes=None,
                              warm_dtype="int8", device=cast("Device", config.vector_device),
                              promote_on_hit=False)
    step = tiers.segment_rows
    for start in range(0, vecs.shape[0], step):
        block = np.asarray(vecs[start:start + step], np.float32)
        tiers.add(np.arange(start, start + block.shape[0], dtype=np.int64), block)
    stats = segment.chunks
    return BaseVectors(key, tiers, stats.vocab, term_weights(stats, stats), stats.num_docs)


def _segments_of(data: SearchData) -> tuple[Path, Segment, Segment | None]:
    """The segments folder, the base and the delta (None) a commit's view reads."""
    from exocortex.search.cache import checked_segment

    if data.folder is None:
        raise ValueError("search data without its folder has no vectors")
    segments = data.folder.parent / SEGMENTS_DIRNAME
    found: list[Segment | None] = []
    for name in (data.segments.get("base"), data.segments.get("delta")):
        if name is None:
            found.append(None)
            continue
        segment = checked_segment(segments / str(name))
        if segment is None:
            raise FileNotFoundError(f"the search segment {segments / str(name)} is gone")
        found.append(segment)
    base, delta = found
    if base is None:
        raise ValueError(f"the search data in {data.folder} names no base segment")
    return segments, base, delta


def make_missing(data: SearchData) -> None:
    """Write the vectors the commit's segments lack (an index run calls this after a commit whose
    base already has vectors, so the next search only loads them)."""
    segments, base, delta = _segments_of(data)
    if delta is None or not any(segments.glob(f"{VECTORS_PREFIX}*-{base.name}")):
        return  # nothing new, or never searched semantically: no model is loaded for nothing
    model = semantic.load_model()
    if (segments / folder_name(model, base.name) / DONE_FILE).exists():
        segment_vectors(segments, delta, base, model)


def commit_vectors(data: SearchData, config: Config) -> CommitVectors:
    """The commit's vectors (made for the segments that lack them), held on ``data``.

    Raises :class:`~exocortex.search.semantic.ModelUnavailable` when the model cannot be loaded.
    """
    held = data.vectors
    if isinstance(held, CommitVectors):
        return held
    model = semantic.load_model()
    segments, base, delta = _segments_of(data)
    base_vecs = _base_tiers(segments / base.name, base, segment_vectors(segments, base, base, model), config)
    base_doc = delta_rows = delta_doc = None
    dropped = 0
    if delta is not None:
        assert data.folder is not None
        delta_rows = np.asarray(segment_vectors(segments, delta, base, model), np.float32)
        base_doc = np.asarray(np.load(data.folder / "b_doc.npy", mmap_mode="r"), np.int64)
        delta_doc = np.asarray(np.load(data.folder / "d_doc.npy", mmap_mode="r"), np.int64)
        dropped = int((base_doc < 0).sum())
    made = CommitVectors(model, base_vecs, base_doc, delta_rows, delta_doc, dropped)
    data.vectors = made
    return made
