"""Checks of the diff parser and of the gold-edit location, on made-up and on real patches.

    python benchmarks/retrieval/check_data.py                 # self-checks + data-quality figures
    python benchmarks/retrieval/check_data.py --show 3        # also print 3 real patches' edits

The self-checks are made-up diffs with known answers. The data-quality figures run over every
task: the share of '-' lines whose text equals the sdist's line at the header's number, and how
each hunk was located in the sdist's copy of the file. ``--show`` prints, for real patches,
each hunk's '-'/'+' lines beside the sdist's lines at the located numbers, to eyeball.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import (  # noqa: E402
    DEFAULT_TASKS,
    LOCATED_HOW,
    _not_blank,
    edited_lines,
    gold_edits,
    load_tasks,
    locate_edits,
    parse_patch,
    prepare_corpus,
    read_lines,
)

SAMPLE = """\
diff --git a/pkg/mod.py b/pkg/mod.py
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -1,3 +1,4 @@
+import os
 import sys
 x = 1
 y = 2
@@ -10,6 +11,6 @@ def f():
 a
 b
--- not a header, a removed line
+++ not a header, an added line
 c
 d
-e
\\ No newline at end of file
+e
diff --git a/pkg/new.py b/pkg/new.py
new file mode 100644
--- /dev/null
+++ b/pkg/new.py
@@ -0,0 +1,2 @@
+def g():
+    pass
diff --git a/pkg/other.py b/pkg/other.py
--- a/pkg/other.py
+++ b/pkg/other.py
@@ -5,4 +5,6 @@
 p
 q
+r1
+r2
 s
 t
"""


def self_check() -> None:
    files = parse_patch(SAMPLE)
    assert [f.path for f in files] == ["pkg/mod.py", "pkg/new.py", "pkg/other.py"], files
    mod, new, other = files
    assert new.old_path is None and new.new_path == "pkg/new.py"
    assert len(mod.hunks) == 2
    assert edited_lines(mod.hunks[0]) == [1], "insertion at the top: line 1"
    assert edited_lines(mod.hunks[1]) == [12, 15], edited_lines(mod.hunks[1])
    assert edited_lines(other.hunks[0]) == [6], "insertion after line 6 (q)"
    # location: the same lines further down, and the same file with the fix applied
    base = ["h1", "h2", "h3", "", "", "", "", "", "", "p", "q", "s", "t"]
    shifted = locate_edits(other.hunks[0], base)  # p, q, s, t at lines 10-13, not 5-8
    assert (shifted.how, shifted.lines) == ("old", [11]), shifted
    fixed = locate_edits(other.hunks[0], [*base[:11], "r1", "r2", *base[11:]])
    assert (fixed.how, fixed.lines) == ("new", [11]), fixed
    replaced = parse_patch("--- a/f\n+++ b/f\n@@ -2,3 +2,3 @@\n keep one\n-old line\n+new line\n keep two\n")[0]
    assert edited_lines(replaced.hunks[0]) == [3]
    found = locate_edits(replaced.hunks[0], ["x", "x", "x", "keep one", "new line", "keep two"])
    assert (found.how, found.lines) == ("new", [5]), found
    # an insertion anchored on a blank line (between two definitions) counts as the nearest
    # non-blank line above it, or below it at the top of a file: a pack's ranges hold no blank lines
    defs = ["def a():", "    return 1", "", "", "def b():", "    return 2"]
    assert _not_blank(4, defs) == 2 and _not_blank(3, defs) == 2 and _not_blank(5, defs) == 5
    assert _not_blank(1, ["", "", "import os"]) == 3
    print("self-checks: ok")


def show(task_ids: list[str], count: int) -> None:
    tasks = load_tasks(DEFAULT_TASKS)
    chosen = [t for t in tasks if t.instance_id in task_ids] if task_ids else tasks[:count]
    for task in chosen:
        corpus = prepare_corpus(task)
        for fp in parse_patch(task.patch):
            path = corpus.tree / fp.path
            if fp.old_path is None or not path.is_file():
                print(f"== {task.instance_id} {fp.path}: {'new file' if fp.old_path is None else 'not in sdist'}")
                continue
            lines = read_lines(path)
            for hunk in fp.hunks:
                located = locate_edits(hunk, lines)
                print(f"== {task.instance_id} {fp.path} @@ -{hunk.old_start},{hunk.old_len} "
                      f"({corpus.release}): header numbers {edited_lines(hunk)} -> {located.how} {located.lines}")
                for tag, text in hunk.lines:
                    if tag != " ":
                        print(f"   patch {tag} {text[:100]}")
                for n in located.lines:
                    text = lines[n - 1] if 0 < n <= len(lines) else "<beyond the end>"
                    print(f"   sdist {n:5d}| {text[:100]}")


def quality() -> None:
    tasks = load_tasks(DEFAULT_TASKS)
    hows: Counter[str] = Counter()
    removed = matched = 0
    skipped: Counter[str] = Counter()
    corpora = {}
    for task in tasks:
        key = (task.project, task.version)
        if key not in corpora:
            corpora[key] = prepare_corpus(task)
        gold = gold_edits(task, corpora[key].tree)
        if gold.missing:
            skipped["gold file missing"] += 1
            continue
        hows.update(gold.hunks_by_how)
        removed += gold.removed_total
        matched += gold.removed_match_header
        if gold.hunks_by_how["header"]:
            skipped["a hunk not found"] += 1
    print(f"'-' lines equal to the sdist's line at the header's number: {matched}/{removed} "
          f"({matched / removed:.1%})")
    print("hunks located: " + ", ".join(f"{h} {hows[h]}" for h in LOCATED_HOW))
    print("tasks that run.py skips: " + ", ".join(f"{k} {v}" for k, v in skipped.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=0, help="print the first N tasks' located edits")
    parser.add_argument("--tasks", default="", help="comma-separated instance ids to print instead")
    parser.add_argument("--no-quality", action="store_true")
    args = parser.parse_args()
    self_check()
    ids = [t for t in args.tasks.split(",") if t]
    if args.show or ids:
        show(ids, args.show)
    if not args.no_quality:
        quality()


if __name__ == "__main__":
    main()
