"""The one configuration: precedence of its sources, and bad values refused with exit code 7."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from exocortex.config import RANGES, Config, load_config, parse_size
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
        ("pagerank_steps = -2", "pagerank_steps must be between 0 and 100"),
        ("pagerank_steps = 1000000000", "pagerank_steps must be between 0 and 100"),
        ("pack_snapshot_max_bytes = -1", "pack_snapshot_max_bytes must not be negative"),
        ("search_candidates = 0", "search_candidates must be at least 1"),
        ("bm25_k1 = 'high'", "invalid value 'high' for 'bm25_k1'"),
        ("bm25_k1 = inf", "bm25_k1 must be a finite number"),
        ("fusion_k = nan", "fusion_k must be a finite number"),
        ("workers = 2.5", "invalid value 2.5 for 'workers'"),
        ("workers = true", "invalid value True for 'workers'"),
        ("weight_bm25 = false", "invalid value False for 'weight_bm25'"),
        ("workers = -3", "workers must be between 0 and 1024"),
        ("extra_ignore_files = ['../x']", "not a file name"),
        ("tokenizer = ''", "invalid value '' for 'tokenizer'"),
        ("index_tokenizers = []", "index_tokenizers is empty"),
        ("memory_level = ''", "invalid value '' for 'memory_level'"),
        ("no_such_setting = 1", "unknown setting 'no_such_setting'"),
    ],
)
def test_bad_settings_are_refused_with_a_message(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / ".exocortex.toml").write_text(toml + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(tmp_path)
    assert info.value.exit_code == 7


def test_the_message_names_where_a_bad_value_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXOCORTEX_FUSION_K", "nan")
    with pytest.raises(ConfigError, match="^EXOCORTEX_FUSION_K: fusion_k must be a finite number, got nan$"):
        load_config(tmp_path)
    (tmp_path / ".exocortex.toml").write_text("search_k = 0\n")
    with pytest.raises(ConfigError, match=r"\.exocortex\.toml: search_k must be at least 1, got 0$"):
        load_config(tmp_path)


NUMERIC = [f for f in dataclasses.fields(Config) if f.type in ("int", "float")]


def test_every_numeric_setting_has_a_range() -> None:
    assert NUMERIC and {f.name for f in NUMERIC} == set(RANGES)


@pytest.mark.parametrize("field", NUMERIC, ids=lambda f: f.name)
def test_every_numeric_setting_is_checked_at_both_ends(field: dataclasses.Field[object]) -> None:
    allowed = RANGES[field.name]
    assert allowed.holds(field.default)  # type: ignore[arg-type]
    if field.type == "int":
        inside: list[object] = [int(allowed.low) + allowed.low_open, int(allowed.high) - allowed.high_open]
        outside: list[object] = [inside[0] - 1, inside[1] + 1, float(field.default)]  # type: ignore[arg-type,operator]
    else:
        low = math.nextafter(allowed.low, math.inf) if allowed.low_open else allowed.low
        high = math.nextafter(allowed.high, -math.inf) if allowed.high_open else allowed.high
        inside = [float(low), float(high)]
        outside = [math.nextafter(low, -math.inf), math.nextafter(high, math.inf),
                   math.nan, math.inf, -math.inf]
    for value in inside:
        assert getattr(load_config(None, **{field.name: value}), field.name) == value
    for value in [*outside, True, "1"]:
        with pytest.raises(ConfigError, match=field.name) as info:
            load_config(None, **{field.name: value})
        assert info.value.exit_code == 7


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400", "1e30g", "0.1", "0", "-5", "", "lots"])
def test_bad_sizes_are_configuration_errors(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_size(text)
    assert info.value.exit_code == 7


def test_sizes() -> None:
    assert parse_size("2MiB") == 2 * 1024 * 1024
    assert parse_size("9223372036854775807") == 2**63 - 1  # exact: not through a float
    with pytest.raises(ConfigError, match="too large"):
        parse_size("9223372036854775808")
    assert parse_size("1.5k") == 1536
    assert parse_size("1e3") == 1000
    assert parse_size("1TiB") == 1024**4 and parse_size("2tb") == 2 * 1000**4


def test_max_file_bytes_has_a_usable_bound(tmp_path: Path) -> None:
    from exocortex import Index

    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / ".exocortex.toml").write_text(f"max_file_bytes = {1024**3}\n")
    assert Index.open(tmp_path).update().files == 2  # a.py and the .exocortex.toml
    for too_big in (1024**3 + 1, 100 * 1024**3, 2**63 - 1):  # 100 GiB was a MemoryError (exit 1)
        (tmp_path / ".exocortex.toml").write_text(f"max_file_bytes = {too_big}\n")
        with pytest.raises(ConfigError, match="max_file_bytes must be at most 1,073,741,824"):
            load_config(tmp_path)


@pytest.mark.parametrize("pyproject", ["[tool]\nexocortex = 'yes'\n", "tool = 5\n"])
def test_a_pyproject_section_that_is_not_a_table(tmp_path: Path, pyproject: str) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    if pyproject.startswith("tool ="):
        assert load_config(tmp_path) == Config()  # not our section: nothing to read
    else:
        with pytest.raises(ConfigError, match="tool.exocortex must be a table"):
            load_config(tmp_path)
