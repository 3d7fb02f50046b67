"""The structure graph and personalized PageRank over it.

Nodes are the indexed files and the names of the chunks vocabulary (a name node
is the lower-cased identifier, e.g. ``getusername``). Edges:

- file -> name: the file references the name (``files.references``), or
- file -> file: the file imports a module another file provides (``files.imports``);
- name -> file: the file defines the name (last component of ``symbols.name``).

Going through name nodes keeps the graph linear in the number of references
(a direct file -> file graph is quadratic in copies of a popular name). Names
defined nowhere, or in more than ``MAX_DEFINITIONS`` files, carry no edges.

PageRank is personalized and truncated: the seeds' mass is walked a few steps
along out-edges with damping, touching only the edges reachable from the seeds,
so a query never iterates over the whole graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from exocortex.search.lexical import segment_positions

MAX_DEFINITIONS = 30
"""A name defined in more files than this is too common to be evidence of a relation."""
MIN_MASS = 1e-7
"""Mass below this is dropped from the walk's frontier."""

_INDEX_STEMS = {"__init__", "index", "mod", "lib", "main"}


@dataclass(slots=True)
class Graph:
    num_files: int
    offsets: np.ndarray  # (num_files + num_names + 1,)
    targets: np.ndarray  # int32 node ids
    weights: np.ndarray  # float32, each node's out-weights sum to 1
    name_files: np.ndarray  # number of defining files per name node (0 = none or too many)

    def out_edges(self, nodes: np.ndarray, mass: np.ndarray) -> np.ndarray:
        """Spread ``mass`` of ``nodes`` along their out-edges: the dense mass vector of every node."""
        total_nodes = self.offsets.shape[0] - 1
        starts = self.offsets[nodes]
        counts = self.offsets[nodes + 1] - starts
        if int(counts.sum()) == 0:
            return np.zeros(total_nodes, np.float64)
        idx = segment_positions(starts, counts)  # every out-edge of every node
        spread = np.repeat(mass, counts) * self.weights[idx]
        return np.bincount(self.targets[idx], weights=spread, minlength=total_nodes)


def personalized_pagerank(
    graph: Graph, seeds: np.ndarray, seed_weights: np.ndarray, damping: float, steps: int = 4,
    max_frontier: int = 20_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Mass reaching files and names from the seed files, not counting the seeds' own restart mass.

    Returns dense ``(file mass, name mass)`` vectors. Each step keeps the
    ``max_frontier`` heaviest nodes, so a query's cost is bounded whatever the graph.
    """
    total_nodes = graph.offsets.shape[0] - 1
    reached = np.zeros(total_nodes, np.float64)
    if seeds.size == 0 or graph.num_files == 0:
        return reached[: graph.num_files], reached[graph.num_files :]
    weights = seed_weights.astype(np.float64)
    nodes, mass = seeds.astype(np.int64), weights / weights.sum()
    factor = 1.0
    for _ in range(steps):
        dense = graph.out_edges(nodes, mass)
        factor *= damping
        reached += dense * factor
        nodes = np.flatnonzero(dense > MIN_MASS)
        if nodes.size > max_frontier:
            nodes = nodes[np.argpartition(-dense[nodes], max_frontier - 1)[:max_frontier]]
        if nodes.size == 0:
            break
        mass = dense[nodes]
    return reached[: graph.num_files], reached[graph.num_files :]


def module_keys(path: str) -> list[str]:
    """Dotted names under which other files may import ``path``: ``a/b/c.py`` -> c, b.c, a.b.c."""
    parts = path.lower().replace("\\", "/").split("/")
    stem = parts[-1].rsplit(".", 1)[0] if "." in parts[-1][1:] else parts[-1]
    mods = [*parts[:-1]] if stem in _INDEX_STEMS and len(parts) > 1 else [*parts[:-1], stem]
    return [".".join(mods[i:]) for i in range(max(0, len(mods) - 3), len(mods))]


def import_keys(module: str) -> list[str]:
    """Lookup keys of an import string, most specific first."""
    m = module.strip().strip("'\"<>").lower().replace("::", ".").replace("\\", "/")
    m = m.replace("/", ".")
    for ext in (".py", ".js", ".ts", ".tsx", ".jsx", ".h", ".hpp", ".rs", ".go", ".java"):
        if m.endswith(ext):
            m = m[: -len(ext)]
    parts = [p for p in m.split(".") if p and p not in ("", "..")]
    if parts and parts[-1] in _INDEX_STEMS:
        parts = parts[:-1]
    return [".".join(parts[i:]) for i in range(max(0, len(parts) - 3), len(parts))]


def resolve_import(module: str, files_of: Mapping[str, Sequence[int]] | Callable[[str], Sequence[int]]) -> list[int]:
    """The files an import string names: those of its most specific key that some file provides,
    unless more than ``MAX_DEFINITIONS`` do. ``files_of`` gives a key's files, ascending."""
    lookup = files_of if callable(files_of) else (lambda key: files_of.get(key, ()))
    for key in import_keys(module):
        found = list(lookup(key))
        if found:
            return found if len(found) <= MAX_DEFINITIONS else []
    return []
