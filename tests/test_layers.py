"""Dependencies run one way: a module imports only from its own package or from layers below it.

``errors < config < sources, chunking, tokens, store < memory < search < indexing, pack < genomics
< api < mcp < cli`` (``escape`` and ``log`` are leaves beside ``errors``). Every import counts:
module-level, inside a function (imported late for start-up time) and under ``TYPE_CHECKING``,
since each is a dependency a reader has to follow. Packages of the same layer do not import each
other either, so no cycle can hide inside a layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "exocortex"

LAYERS: dict[str, int] = {
    "errors": 0, "escape": 0, "log": 0,
    "config": 1,
    "sources": 2, "chunking": 2, "tokens": 2, "store": 2,
    "memory": 3,
    "search": 4,
    "indexing": 5, "pack": 5,
    "genomics": 6,
    "api": 7,
    "mcp": 8,
    "cli": 9,
}


def _package(path: Path, root: Path) -> str:
    return path.relative_to(root).parts[0].removesuffix(".py")


def _imported(node: ast.AST, module_parts: list[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against the importing module's package
            base = module_parts[: len(module_parts) - node.level]
            return [".".join([*base, node.module] if node.module else base)]
        return [node.module] if node.module else []
    return []


def violations(root: Path) -> list[str]:
    """``path:line: a -> b`` for every import of ``root``'s package that goes up or sideways a layer."""
    found = []
    for path in sorted(root.rglob("*.py")):
        package = _package(path, root)
        if package == "__init__":  # the public API re-exports from every layer
            continue
        module_parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for name in _imported(node, module_parts):
                parts = name.split(".")
                if parts[0] != root.name or len(parts) < 2 or parts[1] == package:
                    continue
                if parts[1] not in LAYERS or package not in LAYERS:
                    found.append(f"{path}:{node.lineno}: {package} -> {name} (a package with no layer: add it)")
                elif LAYERS[parts[1]] >= LAYERS[package]:
                    found.append(f"{path}:{node.lineno}: {package} (layer {LAYERS[package]}) -> {name} "
                                 f"(layer {LAYERS[parts[1]]})")
    return found


def test_every_package_has_a_layer() -> None:
    packages = {_package(p, SRC) for p in SRC.rglob("*.py")} - {"__init__"}
    assert packages <= set(LAYERS), f"give these a layer: {sorted(packages - set(LAYERS))}"


def test_imports_only_go_down() -> None:
    assert violations(SRC) == []


def test_the_check_finds_an_import_that_goes_up(tmp_path: Path) -> None:
    root = tmp_path / "exocortex"
    (root / "config.py").parent.mkdir(parents=True)
    (root / "config.py").write_text("def f():\n    from exocortex.memory.governor import LEVELS\n")
    (root / "memory").mkdir()
    (root / "memory" / "governor.py").write_text("from exocortex.config import Config\nfrom . import cache\n")
    (root / "pack").mkdir()
    (root / "pack" / "render.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                             "    from exocortex.indexing.run import IndexReport\n")
    found = violations(root)
    assert len(found) == 2
    assert "config (layer 1) -> exocortex.memory.governor (layer 3)" in found[0]
    assert "pack (layer 5) -> exocortex.indexing.run (layer 5)" in found[1]
