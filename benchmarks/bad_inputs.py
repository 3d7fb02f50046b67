"""Run every bad input of ``tests/bad_inputs.py`` as a user would, and write the table to docs/bad-inputs.md.

Each case runs in its own process (the CLI's entry point, as the ``exocortex`` console script
runs it) in a fresh folder, with a time limit: the table shows the exit code a user gets, the
lines on stderr and the verdict, and the totals count internal errors (exit 1), tracebacks,
signals (a segfault is signal 11) and hangs.

Usage::

    .venv/bin/python benchmarks/bad_inputs.py                 # the whole catalogue, writes the docs
    .venv/bin/python benchmarks/bad_inputs.py -k vcf-graph    # cases whose id contains a text; no docs
    .venv/bin/python benchmarks/bad_inputs.py --jobs 2        # cases two at a time
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    REPO_ROOT,
    git_commit,
    log,
    machine_description,
    markdown_table,
    replace_docs_section,
    utc_now,
)

from tests.bad_inputs import CASES, Result, Shared, run_case  # noqa: E402

DOCS = REPO_ROOT / "docs" / "bad-inputs.md"
HEADER = """# Bad inputs

What a user gets for each bad input the project knows of: the exit code (from the table in the
README and `exocortex exit-codes`), and whether the error was one clean line. The catalogue lives
in `tests/bad_inputs.py`; `tests/test_bad_inputs.py` runs it in CI, and
`benchmarks/bad_inputs.py` produced this page, each case in its own process as a user runs it.
Paths are shown relative to the case's own folder; `REPO` is an indexed sample repository and
`STORE` a variant store holding a small VCF.
"""


def _cell(text: str) -> str:
    """Text for a markdown table cell: one line, no raw control characters, pipes escaped."""
    shown = text.encode("unicode_escape").decode("ascii") if any(ord(c) < 32 for c in text) else text
    return shown.replace("|", "\\|").replace("`", "'")


def _verdict(result: Result) -> str:
    return "ok" if result.ok else "FAIL: " + "; ".join(result.problems)


def _by_area(results: list[Result]) -> dict[str, list[Result]]:
    areas: dict[str, list[Result]] = {}
    for r in results:
        areas.setdefault(r.case.area, []).append(r)
    return areas


def render(results: list[Result], seconds: float, command: str) -> str:
    machine = machine_description()
    failures = [r for r in results if not r.ok]
    totals = [
        ("cases", len(results)),
        ("ok", len(results) - len(failures)),
        ("not ok", len(failures)),
        ("internal errors (exit 1)", sum(r.internal_error for r in results)),
        ("tracebacks", sum(r.traceback for r in results)),
        ("signals (segfaults and others)", sum(r.signal is not None for r in results)),
        ("hangs", sum(r.hang for r in results)),
    ]
    lines = [
        f"Produced by `{command}` on {machine['cpu']} ({machine['cores']} cores, {machine['ram']}, "
        f"{machine['os']}, Python {machine['python']}) at commit `{git_commit()}`, {utc_now()}; "
        f"{seconds:.0f} s in all.",
        "",
        markdown_table(["total", "count"], totals),
        "",
        markdown_table(["area", "cases", "ok", "exit codes expected"], [
            (area, len(rs), sum(r.ok for r in rs), ", ".join(str(c) for c in sorted({r.case.expected for r in rs})))
            for area, rs in sorted(_by_area(results).items())
        ]),
        "",
    ]
    if failures:
        lines += ["Not ok:", ""]
        lines += [f"- `{r.case.id}`: {_cell('; '.join(r.problems))}; stderr: `{_cell(r.first_stderr_line()[:200])}`"
                  for r in failures]
        lines.append("")
    rows = [
        (r.case.area, f"`{r.case.id}`: {_cell(r.case.description)}", f"`{_cell(r.case.command())}`",
         r.case.expected, r.got, r.stderr_lines, f"{r.seconds:.1f}", _cell(_verdict(r)))
        for r in results
    ]
    lines.append(markdown_table(["area", "case", "command", "expected", "got", "stderr lines", "s", "verdict"], rows))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", dest="pattern", help="run only the cases whose id contains this text (no docs)")
    parser.add_argument("--jobs", type=int, default=1, help="cases run at the same time (default 1)")
    parser.add_argument("--no-docs", action="store_true", help="print the table, do not write the docs")
    args = parser.parse_args()

    for key in [k for k in os.environ if k.startswith("EXOCORTEX_")]:
        del os.environ[key]  # a developer's own settings must not change what the cases see
    cases = [c for c in CASES if args.pattern is None or args.pattern in c.id]
    write_docs = not args.no_docs and args.pattern is None
    command = "python benchmarks/bad_inputs.py" + (f" --jobs {args.jobs}" if args.jobs != 1 else "")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="exocortex-bad-inputs-") as base:
        shared = Shared(Path(base) / "shared")
        shared.base.mkdir()
        log("building the shared inputs (an indexed repository, a variant store)")
        shared.repo()
        shared.vstore()
        cases_dir = Path(base) / "cases"
        cases_dir.mkdir()

        def one(case_index: int) -> Result:
            case = cases[case_index]
            result = run_case(case, shared, cases_dir, mode="subprocess")
            log(f"{case_index + 1}/{len(cases)} {case.id}: {_verdict(result)} ({result.seconds:.1f} s)")
            return result

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(one, range(len(cases))))
    seconds = time.perf_counter() - started
    body = render(results, seconds, command)
    if write_docs:
        if not DOCS.exists():
            DOCS.write_text(HEADER, encoding="utf-8")
        replace_docs_section("bad-inputs", body, path=DOCS)
        log(f"wrote {DOCS.relative_to(REPO_ROOT)}")
    else:
        print(body)
    failures = [r for r in results if not r.ok]
    for r in failures:
        print(r.describe(), file=sys.stderr)
    log(f"{len(results) - len(failures)} of {len(results)} ok in {seconds:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
