"""The semantic signal: chunks near the query in a static word-embedding space.

BM25 matches the words a query shares with the code; a question in plain language
("how does a run decide which files to process again?") often shares few of them with
the code that answers it (``plan``, ``changed``, ``manifest``). Here every search term
(the same code-aware tokens BM25 indexes: identifiers whole and in parts, path parts,
words of comments and docstrings) gets a vector from a static embedding model, and a
chunk's vector is the IDF-weighted sum of its distinct terms' vectors, normalised. The
query's vector is made the same way from its weighted terms, and chunks are ranked by
cosine similarity.

The model is WordLlama's ``l2_supercat_256`` (MIT licence; 32,000 token embeddings of
256 dimensions distilled from large language models' input embeddings), whose weights
and tokenizer ship inside the ``wordllama`` package: nothing is downloaded at run time.
Only its files are used, through ``safetensors`` and ``tokenizers``; the package's own
code is never imported. A term's vector is the mean of its tokens' embeddings. Embedding
a corpus is one lookup per distinct term and one sparse sum per chunk, so it costs far
less than a transformer pass (see docs/benchmarks.md for the measured figures).

Weights: a term's IDF comes from the segment that defines the statistics (a base's own;
a delta uses its base's, so its vectors match the base's scale), ``log(1 + (N - df +
0.5) / (df + 0.5))`` as BM25 has it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa

from exocortex.errors import ExocortexError

MODEL_PACKAGE = "wordllama"
MODEL_PACKAGE_PIN = "wordllama==0.4.0.post1"
WEIGHTS_FILE = "weights/l2_supercat_256.safetensors"
TOKENIZER_FILE = "tokenizers/l2_supercat_tokenizer_config.json"
DIM = 256

_ENCODE_BATCH = 4096
"""Terms tokenized per call: 64k at once held 124 MB of encodings (measured), which the allocator kept."""
TERM_BLOCK = 1 << 15
"""Terms embedded at once by :func:`chunk_vectors` (32 MiB of float32 vectors at 256 dimensions)."""
_BLOCK_NNZ = 1 << 14
"""Items summed at once: bounds the gathered temporary to 16 MiB of float32 at 256 dimensions."""


class ModelUnavailable(ExocortexError):
    """The embedding model's files are missing or unreadable."""


@dataclass(frozen=True, slots=True)
class StaticModel:
    name: str
    """Which model made a vector: the package, the weights file and the first 16 hex digits
    of the weights' SHA-256 (a changed file is another model)."""
    embeddings: np.ndarray  # (vocab, DIM) float32
    tokenizer: object  # tokenizers.Tokenizer

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def term_vectors(self, terms: list[str]) -> np.ndarray:
        """The vector of each term: the mean of its tokens' embeddings (zeros for no token)."""
        if not terms:
            return np.zeros((0, self.dim), np.float32)
        token_ids: list[list[int]] = []
        for start in range(0, len(terms), _ENCODE_BATCH):  # an Encoding holds ~2 KB: keep few alive
            encoded = self.tokenizer.encode_batch(terms[start:start + _ENCODE_BATCH],  # type: ignore[attr-defined]
                                                  add_special_tokens=False)
            token_ids.extend(e.ids for e in encoded)
        lengths = np.fromiter(map(len, token_ids), np.int64, len(token_ids))
        ids = np.fromiter(chain.from_iterable(token_ids), np.int64, int(lengths.sum()))
        np.clip(ids, 0, self.embeddings.shape[0] - 1, out=ids)
        offsets = np.zeros(len(terms) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        out = ragged_sums(self.embeddings, ids, offsets)
        out /= np.maximum(lengths, 1)[:, None]
        return out


def ragged_sums(table: np.ndarray, items: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``out[g] = table[items[offsets[g]:offsets[g + 1]]].sum(0)`` for every group ``g`` (float32).

    Groups of one length are summed together as one ``(groups, length, dim)`` gather, a block of
    about ``_BLOCK_NNZ`` items at a time: NumPy's ``add.reduceat`` over rows took 4.0 s against
    0.22 s for the 1.1M tokens of Django 4.0's 186k search terms (best of two, AMD EPYC, at
    ``6a17c43``)."""
    num = int(offsets.shape[0]) - 1
    out = np.zeros((max(num, 0), table.shape[1]), np.float32)
    if num <= 0:
        return out
    offsets = np.asarray(offsets, np.int64)
    lengths = np.diff(offsets)
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    edges = np.concatenate([[0], np.flatnonzero(np.diff(sorted_lengths)) + 1, [num]])
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        length = int(sorted_lengths[lo])
        if length == 0:
            continue
        step = max(1, _BLOCK_NNZ // length)
        span = np.arange(length, dtype=np.int64)
        for start in range(lo, hi, step):
            groups = order[start:min(start + step, hi)]
            picked = items[offsets[groups][:, None] + span]
            out[groups] = table[picked].sum(axis=1, dtype=np.float32)
    return out


_model: StaticModel | None = None
_model_error: ModelUnavailable | None = None
_lock = threading.Lock()


def package_dir() -> Path | None:
    """The installed model package's folder, found without importing it (None: not installed)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def model_stamp() -> str:
    """The model's weights file as installed (path, size, mtime), without reading it: what answers
    kept on disk are keyed by, so an upgraded or damaged model never serves another's answers."""
    root = package_dir()
    if root is None:
        return "no-model"
    try:
        st = (root / WEIGHTS_FILE).stat()
    except OSError:
        return "no-model"
    return f"{root / WEIGHTS_FILE}:{st.st_size}:{st.st_mtime_ns}"


def load_model() -> StaticModel:
    """The static embedding model, loaded once per process.

    Raises :class:`ModelUnavailable` (naming the package to install) when its files are
    missing or cannot be read; the error is remembered, so a broken install costs one try.
    """
    global _model, _model_error
    with _lock:
        if _model is not None:
            return _model
        if _model_error is not None:
            raise _model_error
        try:
            _model = _load()
        except ModelUnavailable as exc:
            _model_error = exc
            raise
        return _model


def _load() -> StaticModel:
    hint = f"install it with `pip install {MODEL_PACKAGE_PIN}`"
    root = package_dir()
    if root is None:
        raise ModelUnavailable(f"the semantic signal needs the {MODEL_PACKAGE!r} package, "
                               f"which ships the model: {hint}")
    weights, tok_file = root / WEIGHTS_FILE, root / TOKENIZER_FILE
    try:
        from safetensors.numpy import load as load_safetensors
        from tokenizers import Tokenizer

        raw = weights.read_bytes()
        tensors = load_safetensors(raw)
        (matrix,) = tensors.values()
        tokenizer = Tokenizer.from_file(str(tok_file))
    except Exception as exc:  # noqa: BLE001 - any failure to read the files is the same failure for the user
        raise ModelUnavailable(
            f"cannot read the embedding model in {root} ({type(exc).__name__}: {exc}); "
            f"the {MODEL_PACKAGE!r} install looks damaged: reinstall it with "
            f"`pip install --force-reinstall {MODEL_PACKAGE_PIN}`"
        ) from exc
    if matrix.ndim != 2 or matrix.shape[1] != DIM or not np.isfinite(matrix).all():
        raise ModelUnavailable(
            f"the embedding model in {weights} has shape {matrix.shape}, expected (vocab, {DIM}) of finite values; "
            f"reinstall it with `pip install --force-reinstall {MODEL_PACKAGE_PIN}`"
        )
    digest = hashlib.sha256(raw).hexdigest()[:16]
    name = f"{MODEL_PACKAGE}/{Path(WEIGHTS_FILE).stem}@{digest}"
    return StaticModel(name, np.ascontiguousarray(matrix, dtype=np.float32), tokenizer)


def idf(doc_freq: np.ndarray, num_docs: int) -> np.ndarray:
    """BM25's IDF of each term (float32)."""
    df = doc_freq.astype(np.float64)
    return np.log1p((num_docs - df + 0.5) / (df + 0.5)).astype(np.float32)


def chunk_vectors(model: StaticModel, vocab: pa.Array, term_offsets: np.ndarray, post_docs: np.ndarray,
                  num_docs: int, weights: np.ndarray) -> np.ndarray:
    """Normalised vectors (float32, one row per document) of the documents of a lexical index.

    ``post_docs[term_offsets[t]:term_offsets[t + 1]]`` are the documents holding term ``t`` of
    ``vocab`` (its postings); ``weights`` is each term's weight (its IDF). A document's vector is
    the weighted sum of its distinct terms' vectors. The vocabulary is embedded ``TERM_BLOCK``
    terms at a time and each block's postings are added into the documents' rows, so memory
    holds one block of term vectors, not the whole vocabulary's (550k terms at 50k files: 0.56 GB
    of float32). A document with no embeddable term gets a zero row.
    """
    out = np.zeros((max(num_docs, 0), model.dim), np.float32)
    if num_docs <= 0 or len(vocab) == 0:
        return out
    offsets = np.asarray(term_offsets, np.int64)
    w = np.asarray(weights, np.float32)
    for a in range(0, len(vocab), TERM_BLOCK):
        b = min(a + TERM_BLOCK, len(vocab))
        vectors = model.term_vectors(vocab.slice(a, b - a).to_pylist())
        vectors *= w[a:b, None]
        docs = np.asarray(post_docs[offsets[a]:offsets[b]], np.int64)
        if docs.size == 0:
            continue
        terms = np.repeat(np.arange(b - a, dtype=np.int64), np.diff(offsets[a:b + 1]))
        order = np.argsort(docs, kind="stable")
        docs, terms = docs[order], terms[order]
        first = np.flatnonzero(np.concatenate([[True], docs[1:] != docs[:-1]]))
        out[docs[first]] += ragged_sums(vectors, terms, np.append(first, docs.size))
    return normalise(out)


def normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def query_vector(model: StaticModel, weighted_terms: dict[str, float], term_idf: dict[str, float]) -> np.ndarray | None:
    """The query's normalised vector from its weighted terms (None: no term embeds)."""
    terms = list(weighted_terms)
    if not terms:
        return None
    vecs = model.term_vectors(terms)
    w = np.array([weighted_terms[t] * term_idf.get(t, 0.0) for t in terms], np.float32)
    v = (vecs * w[:, None]).sum(axis=0)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else None
