"""Whole-file baselines: random files, BM25 over whole files (the SWE-bench paper's
retrieval), and the gold files themselves (oracle). Each packs files whole, in its order,
while they fit the budget: a file is wholly in (all its lines covered) or skipped.

File costs are exact cl100k_base counts of the file as a pack would carry it: a header
line with its path and the text in a fenced block.
"""

from __future__ import annotations

import random
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exocortex.tokens import count_tokens

TOKENIZER = "cl100k_base"
_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits: split on everything else


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def render_file(path: str, text: str) -> str:
    body = text if text.endswith("\n") else text + "\n"
    return f"### {path}\n```python\n{body}```\n\n"


@dataclass
class SourceFiles:
    """The non-test Python files of one sdist, their texts and their token costs."""

    paths: list[str]
    texts: list[str]
    costs: np.ndarray  # cl100k_base tokens of render_file(path, text)

    @classmethod
    def load(cls, tree: Path, paths: Sequence[str]) -> SourceFiles:
        texts = [(tree / p).read_text(encoding="utf-8", errors="replace") for p in paths]
        costs = np.array([count_tokens(render_file(p, t), TOKENIZER) for p, t in zip(paths, texts, strict=True)],
                         dtype=np.int64)
        return cls(list(paths), texts, costs)

    def cost_of(self, path: str) -> int | None:
        try:
            return int(self.costs[self.paths.index(path)])
        except ValueError:
            return None


def pack_whole(order: Sequence[int], costs: np.ndarray, budget: int) -> tuple[list[int], int]:
    """File indexes taken in ``order`` while they fit ``budget``; returns them and the tokens used."""
    taken: list[int] = []
    used = 0
    cheapest = int(costs.min()) if len(costs) else 0
    for i in order:
        cost = int(costs[i])
        if used + cost <= budget:
            taken.append(i)
            used += cost
            if budget - used < cheapest:
                break
    return taken, used


def random_order(n: int, instance_id: str) -> list[int]:
    """A shuffle of range(n) seeded by the task's id (the same every run)."""
    order = list(range(n))
    random.Random(zlib.crc32(instance_id.encode())).shuffle(order)
    return order


class BM25:
    """Okapi BM25 over whole documents, vectorised with NumPy.

    ``idf = ln(1 + (N - n + 0.5) / (n + 0.5))`` (never negative); a query's repeated words
    count once per occurrence. Defaults ``k1=0.9, b=0.4`` are Pyserini's, which the SWE-bench
    paper's BM25 retrieval used.
    """

    def __init__(self, documents: Sequence[str], k1: float = 0.9, b: float = 0.4) -> None:
        self.k1, self.b = k1, b
        vocab: dict[str, int] = {}
        term_ids: list[np.ndarray] = []
        doc_ids: list[np.ndarray] = []
        tfs: list[np.ndarray] = []
        lengths = np.zeros(len(documents), dtype=np.float64)
        for d, text in enumerate(documents):
            counts = Counter(words(text))
            lengths[d] = sum(counts.values())
            ids = np.fromiter((vocab.setdefault(w, len(vocab)) for w in counts), dtype=np.int64, count=len(counts))
            term_ids.append(ids)
            doc_ids.append(np.full(len(counts), d, dtype=np.int64))
            tfs.append(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        terms = np.concatenate(term_ids) if term_ids else np.zeros(0, dtype=np.int64)
        order = np.argsort(terms, kind="stable")
        self.post_docs = (np.concatenate(doc_ids) if doc_ids else np.zeros(0, dtype=np.int64))[order]
        self.post_tf = (np.concatenate(tfs) if tfs else np.zeros(0))[order]
        df = np.bincount(terms, minlength=len(vocab))
        self.offsets = np.concatenate([[0], np.cumsum(df)])
        n = len(documents)
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5))
        self.vocab = vocab
        avg = lengths.mean() if n else 1.0
        self.norm = k1 * (1.0 - b + b * lengths / (avg or 1.0))
        self.n = n

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(self.n)
        for word, qtf in Counter(words(query)).items():
            t = self.vocab.get(word)
            if t is None:
                continue
            lo, hi = self.offsets[t], self.offsets[t + 1]
            docs, tf = self.post_docs[lo:hi], self.post_tf[lo:hi]
            out[docs] += qtf * self.idf[t] * tf * (self.k1 + 1.0) / (tf + self.norm[docs])
        return out

    def rank(self, query: str) -> list[int]:
        """Document indexes, best first (ties in document order)."""
        return list(np.argsort(-self.scores(query), kind="stable"))
