"""What a file is for, from its path: source code, tests, or documentation and examples.

A question about a bug or a feature is usually answered by source code; tests,
docs and examples mention the same names and would crowd it out. Search
multiplies the fused score of chunks in such files by ``prior_tests`` or
``prior_docs`` (configuration) unless the query itself is about them.
"""

from __future__ import annotations

import re

import numpy as np

SOURCE, TEST, DOCS = 0, 1, 2

_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs"})
_DOCS_DIRS = frozenset({"doc", "docs", "documentation", "example", "examples", "galleries", "gallery",
                        "tutorial", "tutorials", "benchmarks", "asv_benchmarks", "bench"})
_TEST_FILE = re.compile(r"(^test_.*|.*_tests?\.[^.]+|^conftest\.py|.*\.(test|spec)\.[jt]sx?)$")
_DOCS_FILE = re.compile(r".*\.(md|rst|txt|adoc)$|^(readme|changelog|changes|history|news)(\.[^.]*)?$",
                        re.IGNORECASE)
_QUERY_TESTS = re.compile(r"\b(tests?|testing|testcase|pytest|unittest|fixtures?|conftest)\b", re.IGNORECASE)
_QUERY_DOCS = re.compile(r"\b(docs?|documentation|docstrings?|readme|examples?|tutorials?|changelog)\b",
                         re.IGNORECASE)


def file_role(path: str) -> int:
    """``TEST``, ``DOCS`` or ``SOURCE`` for a '/'-separated relative path."""
    parts = path.lower().split("/")
    name = parts[-1]
    if _TEST_FILE.match(name) or any(p in _TEST_DIRS for p in parts[:-1]):
        return TEST
    if _DOCS_FILE.match(name) or any(p in _DOCS_DIRS for p in parts[:-1]):
        return DOCS
    return SOURCE


def file_roles(paths: list[str]) -> np.ndarray:
    return np.fromiter((file_role(p) for p in paths), np.int8, len(paths))


def role_priors(query: str, prior_tests: float, prior_docs: float) -> np.ndarray:
    """Score multiplier per role for ``query``: 1 for a role the query asks about."""
    tests = 1.0 if _QUERY_TESTS.search(query) else prior_tests
    docs = 1.0 if _QUERY_DOCS.search(query) else prior_docs
    return np.array([1.0, tests, docs])
