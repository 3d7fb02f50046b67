"""The one configuration: precedence of its sources, and bad values refused with exit code 7."""

from __future__ import annotations

from pathlib import Path

import pytest

from exocortex.config import load_config
from exocortex.errors import ConfigError


def test_later_sources_override_earlier_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.exocortex]\nbm25_k1 = 0.9\nbm25_b = 0.5\nneighbor_sources = 3\nweight_pagerank = 0.1\n"
    )
    (tmp_path / ".exocortex.toml").write_text("bm25_b = 0.3\nneighbor_sources = 4\nweight_pagerank = 0.2\n")
    monkeypatch.setenv("EXOCORTEX_NEIGHBOR_SOURCES", "5")
    monkeypatch.setenv("EXOCORTEX_WEIGHT_PAGERANK", "0.3")
    config = load_config(tmp_path, weight_pagerank=0.4)
    assert config.bm25_k1 == 0.9  # pyproject only
    assert config.bm25_b == 0.3  # .exocortex.toml over pyproject
    assert config.neighbor_sources == 5  # environment over both files
    assert config.weight_pagerank == 0.4  # an explicit override over everything
    assert load_config(None).bm25_k1 == 1.2  # the built-in default


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("bm25_b = 1.5", "bm25_b must be between 0 and 1"),
        ("weight_bm25 = -1", "weight_bm25 must not be negative"),
        ("pagerank_damping = 1.0", "pagerank_damping"),
        ("fusion_k = 0", "fusion_k must be positive"),
        ("pagerank_steps = -2", "pagerank_steps must not be negative"),
        ("pack_snapshot_max_bytes = -1", "pack_snapshot_max_bytes must not be negative"),
        ("search_candidates = 0", "search_candidates must be at least 1"),
        ("bm25_k1 = 'high'", "invalid value 'high' for 'bm25_k1'"),
        ("no_such_setting = 1", "unknown setting 'no_such_setting'"),
    ],
)
def test_bad_settings_are_refused_with_a_message(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / ".exocortex.toml").write_text(toml + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(tmp_path)
    assert info.value.exit_code == 7
