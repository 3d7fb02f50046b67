"""The public names: everything ``exocortex`` exports exists, is documented, and nothing public is left out.

In the manner of httpx's ``tests/test_exported_members.py``: the list of exported names is checked
against what the package really holds, so a new error or class cannot be forgotten in ``__all__``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import exocortex
from exocortex import errors
from exocortex.errors import ERRORS, EXIT_CODES, ExocortexError, exit_codes_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_every_exported_name_resolves_and_is_documented() -> None:
    assert exocortex.__all__ == sorted(set(exocortex.__all__) - {"__version__"}) + ["__version__"]
    for name in exocortex.__all__:
        value = getattr(exocortex, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__doc__, f"exocortex.{name} has no docstring"


def test_every_error_class_is_exported_and_listed() -> None:
    defined = {obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, ExocortexError) and obj.__module__ == errors.__name__}
    assert defined == set(ERRORS), "errors.ERRORS must list every error class"
    for error in defined:
        assert error.__name__ in exocortex.__all__, f"{error.__name__} is not exported by exocortex"
        assert getattr(exocortex, error.__name__) is error


def test_every_error_falls_in_one_group() -> None:
    groups = (errors.InputError, errors.StoreError, errors.QueryError)
    for error in ERRORS:
        if error is ExocortexError or error in groups:
            continue
        assert sum(issubclass(error, g) for g in groups) == 1, error
        assert error.exit_code in EXIT_CODES


def test_exit_codes_come_from_the_classes() -> None:
    assert EXIT_CODES[errors.NoMatchesError.exit_code] == errors.NoMatchesError.meaning
    assert EXIT_CODES[errors.PathOutsideRootError.exit_code] == errors.InputPathError.meaning
    assert list(EXIT_CODES) == sorted(EXIT_CODES)


def _table_after_marker(text: str) -> str:
    lines = text[text.index("<!-- exit-codes"):].splitlines()[1:]
    table = []
    for line in lines:
        if not line.startswith("|"):
            break
        table.append(line)
    return "\n".join(table) + "\n"


def test_the_documented_exit_code_tables_are_the_generated_one() -> None:
    for doc in ("README.md", "docs/cli.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert _table_after_marker(text) == exit_codes_markdown(), (
            f"{doc}: regenerate the table with `exocortex exit-codes --markdown`")
    assert "docs/cli.md" in (errors.__doc__ or "") and (ROOT / "docs" / "cli.md").is_file()


def test_the_variant_store_has_a_public_class() -> None:
    assert "Variants" in exocortex.__all__
    variants = exocortex.Variants
    for method in ("open", "ingest", "validate", "query", "stats", "similar", "graph"):
        assert callable(getattr(variants, method)), method
    assert "Variants.open" in (variants.__doc__ or "")
