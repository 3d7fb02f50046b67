"""The context governor on a real indexed store: budgets, degradation, rendering, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exocortex import Index
from exocortex.chunking.text import split_lines
from exocortex.errors import EXIT_CODES, BudgetTooSmallError, ConfigError, NoMatchesError
from exocortex.memory.engine import engine_memory
from exocortex.pack import Pack, PackItem, corpus, pack_context, parse_budget
from exocortex.search.hits import SearchHit
from exocortex.store.lance import StoreReader
from exocortex.tokens import count_tokens

# --- helpers shared with the property tests ------------------------------------------------


def open_reader(root: Path) -> StoreReader:
    index = Index.open(root)
    index.update()
    return StoreReader(index.store)


def chunk_rows(reader: StoreReader) -> list[dict]:
    rows = reader.read("chunks", ["path", "ordinal", "start_line", "end_line", "kind", "symbol", "tokens_o200k"])
    return sorted(rows.to_pylist(), key=lambda r: (r["path"], r["ordinal"]))


def hits_for(rows: list[dict]) -> list[SearchHit]:
    """Hits in the given order with strictly decreasing scores."""
    return [
        SearchHit(r["path"], r["ordinal"], r["symbol"], r["kind"], (r["start_line"], r["end_line"]),
                  float(len(rows) - i))
        for i, r in enumerate(rows)
    ]


def check_verbatim(pack: Pack, root: Path) -> None:
    """Every listed range is in the text verbatim, and a file's ranges appear in line order."""
    sources: dict[str, list[str]] = {}
    for item in pack.items:
        if item.path not in sources:
            sources[item.path] = split_lines((root / item.path).read_text(encoding="utf-8"))
    for path, lines in sources.items():
        ranges = sorted(r for it in pack.items if it.path == path for r in it.lines)
        position = 0
        for start, end in ranges:
            assert 0 < start <= end <= len(lines), (path, start, end)
            block = "".join(lines[start - 1 : end])
            found = pack.text.find(block, position)
            assert found >= 0, f"{path} lines {start}-{end} are not verbatim (in order) in the text"
            position = found + len(block)


def blocks_of(pack: Pack) -> list[tuple[str, str, str]]:
    """(path, label, body) of every block of the pack's text, markdown or XML."""
    if pack.format == "xml":
        import xml.etree.ElementTree as ET

        return [(el.get("path"), el.get("lines"), el.text[1:]) for el in ET.fromstring(pack.text).iter("file")]
    out = []
    lines = split_lines(pack.text)
    i = 0
    while i < len(lines):
        if lines[i].startswith("### "):
            path, label = lines[i][4:].rstrip("\n").rsplit(":", 1)
            fence = lines[i + 1].rstrip("\n").rstrip("abcdefghijklmnopqrstuvwxyz")
            end = lines.index(fence + "\n", i + 2)
            out.append((path, label, "".join(lines[i + 2 : end])))
            i = end
        i += 1
    return out


def check_labels(pack: Pack, root: Path) -> None:
    """Each block's label lists its runs' line ranges in order, and line i of a run is source line START + i."""
    blocks = blocks_of(pack)
    assert [b[0] for b in blocks] == list(dict.fromkeys(it.path for it in pack.items if it.kind != "path"))
    for path, label, body in blocks:
        source = split_lines((root / path).read_bytes().decode())
        ranges = [tuple(int(n) for n in part.split("-")) * (2 if "-" not in part else 1) for part in label.split(",")]
        runs = body.split("…\n")
        assert len(runs) == len(ranges), (path, label, body)
        for (start, end), run in zip(ranges, runs, strict=True):
            shown = split_lines(run)
            assert len(shown) == end - start + 1, (path, start, end, run)
            for row, line in enumerate(shown, start):
                want = source[row - 1].rstrip("\r\n")
                assert line.rstrip("\r\n") == want or not want.strip() and not line.strip(), (path, row, line)
        covered = {n for it in pack.items if it.path == path for s, e in it.lines for n in range(s, e + 1)}
        assert all(any(s <= n <= e for s, e in ranges) for n in covered)  # every item's lines are labelled


def check_no_duplicates(pack: Pack) -> None:
    """Ranges of one file never overlap, across all its items."""
    by_path: dict[str, list[tuple[int, int]]] = {}
    for item in pack.items:
        by_path.setdefault(item.path, []).extend(item.lines)
    for path, ranges in by_path.items():
        ranges.sort()
        for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
            assert start > end, f"overlapping ranges in {path}: {ranges}"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def reader(sample_repo: Path) -> StoreReader:
    return open_reader(sample_repo)


def _hit(rows: list[dict], path: str, symbol: str, score: float) -> SearchHit:
    r = next(r for r in rows if r["path"] == path and r["symbol"] == symbol)
    return SearchHit(path, r["ordinal"], symbol, r["kind"], (r["start_line"], r["end_line"]), score)


# --- budgets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8000", 8000), ("128k", 128_000), ("128K", 128_000), ("1m", 1_000_000), ("10m", 10_000_000),
     ("1.5k", 1500), (" 2_000 ", 2000), ("64,000", 64_000), (5, 5)],
)
def test_parse_budget_reads_plain_k_and_m(text: str | int, expected: int) -> None:
    assert parse_budget(text) == expected


@pytest.mark.parametrize("text", ["0", "-5", "abc", "", "1.5", "12q", "k", "0k", "1.2345k", -1, 0, True])
def test_parse_budget_refuses_nonsense_with_a_clear_message(text: str | int) -> None:
    with pytest.raises(ConfigError, match="token budget"):
        parse_budget(text)


def test_text_never_exceeds_budget_and_tokens_are_exact(sample_repo: Path, reader: StoreReader) -> None:
    hits = hits_for(chunk_rows(reader))
    for tokenizer in ("o200k_base", "cl100k_base"):
        for budget in (40, 60, 80, 120, 200, 400, 10_000):
            for fmt in ("markdown", "xml", "json"):
                pack = pack_context("user", hits, reader, budget=budget, tokenizer=tokenizer, fmt=fmt)
                assert pack.tokens == count_tokens(pack.text, tokenizer) <= budget
                check_verbatim(pack, sample_repo)
                check_no_duplicates(pack)
                check_labels(pack, sample_repo)


def test_a_large_budget_reproduces_every_non_blank_line(sample_repo: Path, reader: StoreReader) -> None:
    pack = pack_context("anything", hits_for(chunk_rows(reader)), reader, budget=parse_budget("1m"))
    assert {it.kind for it in pack.items} == {"full"}
    assert len(pack.items) == 5
    for item in pack.items:
        for line in (sample_repo / item.path).read_text(encoding="utf-8").splitlines():
            assert line in pack.text
        covered = {n for s, e in item.lines for n in range(s, e + 1)}
        source = split_lines((sample_repo / item.path).read_text(encoding="utf-8"))
        assert all(n in covered for n, line in enumerate(source, 1) if line.strip())


def test_budget_too_small_for_the_outline(reader: StoreReader) -> None:
    with pytest.raises(BudgetTooSmallError, match="too small") as info:
        pack_context("user", hits_for(chunk_rows(reader)), reader, budget=5)
    assert info.value.exit_code == 11


def test_no_hits_is_no_matches(reader: StoreReader) -> None:
    with pytest.raises(NoMatchesError, match="no matches") as info:
        pack_context("zzz", [], reader, budget=8000)
    assert info.value.exit_code == 12


def test_exit_codes_are_documented() -> None:
    assert BudgetTooSmallError.exit_code == 11 and NoMatchesError.exit_code == 12
    assert "too small" in EXIT_CODES[11] and "matches" in EXIT_CODES[12]


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"tokenizer": "gpt2"}, "unknown tokenizer"), ({"fmt": "html"}, "unknown format"),
     ({"budget": 0}, "positive"), ({"budget": -3}, "positive")],
)
def test_bad_arguments_are_config_errors(reader: StoreReader, settings: dict, message: str) -> None:
    args = {"budget": 1000, **settings}
    with pytest.raises(ConfigError, match=message):
        pack_context("q", hits_for(chunk_rows(reader)), reader, **args)


def test_stale_hits_only_are_no_matches(reader: StoreReader) -> None:
    ghost = SearchHit("gone.py", 0, "f", "function", (1, 2), 1.0)
    with pytest.raises(NoMatchesError):
        pack_context("q", [ghost], reader, budget=1000)


# --- degradation ---------------------------------------------------------------------------------


def test_method_comes_with_its_class_header(sample_repo: Path, reader: StoreReader) -> None:
    rows = chunk_rows(reader)
    pack = pack_context("greet", [_hit(rows, "app/models.py", "User.greet", 1.0)], reader, budget=2000)
    kinds = {(it.kind, it.symbol) for it in pack.items}
    assert ("chunk", "User.greet") in kinds and ("chunk", "User") in kinds
    assert pack.text.index("class User:") < pack.text.index("def greet")
    assert "def slug" not in pack.text  # not asked for: a gap marker stands for it
    assert "…" in pack.text
    check_verbatim(pack, sample_repo)


def test_degrades_chunk_then_skeleton_then_signature_then_path(sample_repo: Path, reader: StoreReader) -> None:
    rows = chunk_rows(reader)
    hit = [_hit(rows, "app/util.py", "slugify", 1.0)]
    kinds = []
    for budget in range(10, 120, 2):
        try:
            pack = pack_context("slug", hit, reader, budget=budget)
        except BudgetTooSmallError:
            kinds.append("none")
            continue
        assert pack.tokens <= budget
        kinds.append(pack.items[0].kind)
        check_verbatim(pack, sample_repo)
    order = ["none", "path", "signature", "skeleton", "chunk"]
    ranks = [order.index(k) for k in kinds]
    assert ranks == sorted(ranks), kinds  # more budget never gives a worse form
    assert set(kinds) == set(order), kinds  # and every form shows up on the way


def test_a_more_relevant_hit_is_never_cut_for_a_less_relevant_one(reader: StoreReader) -> None:
    rows = chunk_rows(reader)
    big = _hit(rows, "app/models.py", "User.greet", 3.0)  # 28 tokens + class header
    small = _hit(rows, "app/util.py", "", 2.0)  # "import re": 3 tokens
    for budget in range(30, 200, 3):
        try:
            pack = pack_context("q", [big, small], reader, budget=budget)
        except BudgetTooSmallError:
            continue
        forms = {(it.path, it.symbol): it.kind for it in pack.items}
        greet_full = forms.get(("app/models.py", "User.greet")) in ("chunk", "full")
        util_full = forms.get(("app/util.py", "")) in ("chunk", "full")
        if util_full and not greet_full:
            # the small one only got in because the big one did not fit at all
            alone = pack_context("q", [big], reader, budget=budget)
            assert not any(it.symbol == "User.greet" and it.kind == "chunk" for it in alone.items)


def test_skeleton_and_chunks_of_one_file_do_not_repeat_lines(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    body = "".join(f"    total = total + {i} * value  # step {i}\n" for i in range(60))
    (root / "calc.py").write_text(
        "import math\n\n\ndef big(value):\n    total = 0\n" + body + "    return total\n\n\n"
        "def small(x):\n    return math.sqrt(x)\n",
        encoding="utf-8",
    )
    reader = open_reader(root)
    rows = chunk_rows(reader)
    # A big first hit that cannot fit and leaves the skeleton, then a small chunk of the same file.
    hits = [_hit(rows, "calc.py", "big", 5.0), _hit(rows, "calc.py", "small", 4.0)]
    seen = set()
    for budget in range(30, 200, 4):
        try:
            pack = pack_context("q", hits, reader, budget=budget)
        except BudgetTooSmallError:
            continue
        assert pack.tokens <= budget
        seen.add(tuple(sorted(it.kind for it in pack.items)))
        check_verbatim(pack, root)
        check_no_duplicates(pack)
        check_labels(pack, root)
        assert pack.text.count("def small(x):") <= 1
    assert ("chunk", "skeleton") in seen, seen


def test_the_best_files_go_in_whole_when_they_cost_little_of_the_budget(sample_repo: Path,
                                                                         reader: StoreReader) -> None:
    rows = chunk_rows(reader)
    hits = [_hit(rows, "app/models.py", "User.greet", 2.0), _hit(rows, "app/util.py", "slugify", 1.0)]
    plain = pack_context("greet", hits, reader, budget=4000)
    whole = pack_context("greet", hits, reader, budget=4000, whole_files=1, whole_file_share=0.5)
    assert "def slug(self" not in plain.text  # only the hit and its class header
    kinds = {it.path: it.kind for it in whole.items}
    assert kinds["app/models.py"] == "full" and kinds["app/util.py"] == "chunk"  # one whole file, not two
    assert "def slug(self" in whole.text
    check_verbatim(whole, sample_repo)
    # A whole file dearer than its share of the budget is not taken whole.
    tight = pack_context("greet", hits, reader, budget=4000, whole_files=1, whole_file_share=0.001)
    assert "def slug(self" not in tight.text


# --- rendering --------------------------------------------------------------------------------------


def test_output_is_grouped_by_file_in_rank_order_and_headed_by_a_tree(reader: StoreReader) -> None:
    rows = chunk_rows(reader)
    hits = [_hit(rows, "web/client.js", "ping", 3.0), _hit(rows, "app/util.py", "slugify", 2.0),
            _hit(rows, "web/client.js", "", 1.0)]
    pack = pack_context("q", hits, reader, budget=4000)
    text = pack.text
    assert text.startswith("## Files\n```text\napp/\n  util.py\nweb/\n  client.js\n```\n")
    assert text.count("### web/client.js") == 1 and text.count("### app/util.py") == 1
    assert text.index("### web/client.js") < text.index("### app/util.py")
    assert text.index('import { fetchJson }') < text.index("export const ping")  # by line within a file
    assert [it.path for it in pack.items] == ["web/client.js", "web/client.js", "app/util.py"]


def test_markdown_xml_and_json_carry_the_same_items(sample_repo: Path, reader: StoreReader) -> None:
    rows = chunk_rows(reader)
    hits = [_hit(rows, "app/models.py", "User.slug", 3.0), _hit(rows, "docs/guide.md", "Install", 2.0),
            _hit(rows, "app/util.py", "slugify", 1.0)]
    packs = {fmt: pack_context("q", hits, reader, budget=3000, fmt=fmt) for fmt in ("markdown", "xml", "json")}
    shape = {fmt: [(i.path, i.kind, i.lines, i.symbol, i.score, i.tokens) for i in p.items] for fmt, p in packs.items()}
    assert shape["markdown"] == shape["xml"] == shape["json"]
    assert packs["json"].text == packs["markdown"].text
    xml = packs["xml"].text
    assert xml.startswith("<context>\n<tree><![CDATA[\n") and xml.endswith("</context>\n")
    assert '<file path="app/models.py" language="python" lines="6-13"><![CDATA[' in xml
    assert "### app/models.py:6-13\n```python\n@dataclasses.dataclass\n" in packs["markdown"].text
    for pack in packs.values():
        check_verbatim(pack, sample_repo)


def test_json_shape(reader: StoreReader, sample_repo: Path) -> None:
    pack = pack_context("slug", hits_for(chunk_rows(reader)), reader, budget=150, tokenizer="cl100k_base", fmt="json")
    doc = json.loads(pack.to_json())
    assert list(doc) == ["query", "budget", "tokenizer", "tokens", "text", "items", "redacted", "index"]
    assert doc["redacted"] == {"enabled": False, "count": 0, "where": []}  # pack_context redacts when asked
    assert doc["query"] == "slug" and doc["budget"] == 150 and doc["tokenizer"] == "cl100k_base"
    assert doc["tokens"] == count_tokens(doc["text"], "cl100k_base") <= 150
    assert set(doc["index"]) == {"root", "files", "chunks", "age_s"}
    assert doc["index"]["root"] == str(sample_repo) and doc["index"]["files"] == 5
    for item in doc["items"]:
        assert list(item) == ["path", "kind", "lines", "symbol", "score", "tokens"]
        assert item["kind"] in {"full", "chunk", "skeleton", "signature", "path"}
        assert "\\" not in item["path"] and not item["path"].startswith("/")
        assert all(isinstance(r, list) and len(r) == 2 for r in item["lines"])
    assert isinstance(pack.items[0], PackItem)


def test_code_fences_survive_backticks_in_content(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "README.md").write_text("# Title\n\n```python\nprint(1)\n```\n\nend\n", encoding="utf-8")
    reader = open_reader(root)
    pack = pack_context("q", hits_for(chunk_rows(reader)), reader, budget=1000)
    assert "\n````markdown\n" in pack.text  # a longer fence than any run inside
    check_verbatim(pack, root)


def test_crlf_and_unicode_lines_stay_verbatim(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "m.py").write_bytes("def f():\r\n    return 'héllo ✓'\r\n\r\n\r\nclass C:\r\n    x = 1\r\n".encode())
    reader = open_reader(root)
    for budget in (20, 30, 45, 1000):
        pack = pack_context("q", hits_for(chunk_rows(reader)), reader, budget=budget)
        assert pack.tokens == count_tokens(pack.text) <= budget
        for item in pack.items:
            lines = split_lines((root / item.path).read_bytes().decode())
            for s, e in item.lines:
                assert "".join(lines[s - 1 : e]) in pack.text
        check_labels(pack, root)


def test_repeated_packs_of_a_snapshot_match_the_first_and_see_new_commits(tmp_path: Path) -> None:
    # The first pack of a snapshot reads from disk; later ones use the snapshot held in memory.
    (tmp_path / "shapes.py").write_text(
        "class Shape:\n    sides = 0\n\n    def area(self):\n        return 0\n\n"
        "def perimeter(shape):\n    return shape.sides\n",
        encoding="utf-8",
    )
    (tmp_path / "notes.md").write_text("# Notes\n\nShapes have sides.\n", encoding="utf-8")
    for i in range(10):  # files no edit touches: a new commit's snapshot is derived, not read whole
        (tmp_path / f"filler{i}.py").write_text(f"def filler_{i}():\n    return {i}\n", encoding="utf-8")
    reader = open_reader(tmp_path)
    hits = hits_for(chunk_rows(reader))
    held = 1 << 30
    packs = [pack_context("shape", hits, reader, budget=budget, snapshot_max_bytes=held)
             for budget in (60, 10_000) for _ in range(3)]
    # The later packs really came from the held snapshot, which the engine's memory shows.
    assert corpus._snapshot_key is not None and corpus._snapshots(held).get(corpus._snapshot_key) is not None
    held_stats = engine_memory().stats()["caches"]["pack-snapshot"]
    assert held_stats["levels"]["held"]["entries"] == 1 and held_stats["levels"]["held"]["bytes"] > 0
    for first, again in ((packs[0], packs[1]), (packs[0], packs[2]), (packs[3], packs[4]), (packs[3], packs[5])):
        assert again.text == first.text
        assert again.items == first.items
    assert "return shape.sides" in packs[3].text

    (tmp_path / "shapes.py").write_text("def perimeter(shape):\n    return 2 * shape.sides\n", encoding="utf-8")
    (tmp_path / "notes.md").unlink()
    (tmp_path / "solids.py").write_text("def volume(shape):\n    return shape.sides ** 3\n", encoding="utf-8")
    reader = open_reader(tmp_path)
    hits = hits_for(chunk_rows(reader))
    from_disk = pack_context("shape", hits, reader, budget=10_000, snapshot_max_bytes=0)
    for _ in range(3):
        # the new commit's snapshot is derived from the held one: only the changed files are read
        pack = pack_context("shape", hits, reader, budget=10_000, snapshot_max_bytes=held)
        derived = corpus._snapshots(held).get(corpus._snapshot_key)
        assert derived is not None and derived._patch is not None and "notes.md" in derived._gone
        assert "return 2 * shape.sides" in pack.text and "shape.sides ** 3" in pack.text
        assert "class Shape" not in pack.text and "Shapes have sides" not in pack.text
        assert pack.text == from_disk.text and pack.items == from_disk.items


def test_a_snapshot_over_its_byte_limit_is_not_held(tmp_path: Path) -> None:
    (tmp_path / "shapes.py").write_text("def area(shape):\n    return shape.w * shape.h\n", encoding="utf-8")
    reader = open_reader(tmp_path)
    hits = hits_for(chunk_rows(reader))
    packs = [pack_context("area", hits, reader, budget=1000, snapshot_max_bytes=64) for _ in range(3)]
    assert corpus._snapshots(64).get(corpus._snapshot_key) is None and corpus._snapshot_refused
    assert packs[0].text == packs[1].text == packs[2].text
    assert "return shape.w * shape.h" in packs[2].text


def test_xml_is_well_formed_and_parses_back_to_the_source_lines(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    source = ('HTML = "<b>&amp;</b>"\n\n\ndef check(x):\n    return x[y[0]]>1  # ]]> inside\n\n\n'
              'def page():\n    return "\x0c"\n')
    (tmp_path / 'a&b "q".py').write_text(source, encoding="utf-8")
    reader = open_reader(tmp_path)
    pack = pack_context("check", hits_for(chunk_rows(reader)), reader, budget=10_000, fmt="xml")
    assert pack.tokens == count_tokens(pack.text) <= 10_000
    root = ET.fromstring(pack.text)
    assert root.tag == "context" and root.find("tree").text == '\na&b "q".py\n'
    (element,) = root.findall("file")
    assert element.get("path") == 'a&b "q".py' and element.get("language") == "python"
    content = element.text
    assert content.startswith("\n")
    assert 'HTML = "<b>&amp;</b>"\n' in content
    assert "    return x[y[0]]>1  # ]]> inside\n" in content
    assert '    return "\ufffd"\n' in content  # a form feed cannot be carried by XML 1.0


def test_the_count_memo_is_exact_and_bounded(tmp_path: Path) -> None:
    from exocortex.pack.render import CountMemo

    memo = CountMemo(max_entries=2)
    texts = [f"def f{i}(x):\n    return x * {i}  # some words to count\n" * (i + 2) for i in range(4)]
    for _ in range(2):
        assert [memo.count(t, "cl100k_base") for t in texts] == [count_tokens(t, "cl100k_base") for t in texts]
    assert len(memo._counts) == 2  # the oldest entries went first
    assert memo.count(texts[0], "o200k_base") == count_tokens(texts[0], "o200k_base")  # keyed by tokenizer too

    (tmp_path / "m.py").write_text("".join(texts), encoding="utf-8")
    reader = open_reader(tmp_path)
    hits = hits_for(chunk_rows(reader))
    plain = pack_context("f", hits, reader, budget=500)
    for _ in range(2):
        remembered = pack_context("f", hits, reader, budget=500, count_memo_entries=100)
        assert remembered.text == plain.text and remembered.tokens == plain.tokens == count_tokens(plain.text)


# --- line ranges ---------------------------------------------------------------------------------


def test_a_whole_file_is_one_block_labelled_from_its_first_to_its_last_line(sample_repo: Path,
                                                                            reader: StoreReader) -> None:
    for fmt in ("markdown", "xml"):
        pack = pack_context("anything", hits_for(chunk_rows(reader)), reader, budget=parse_budget("1m"), fmt=fmt)
        labels = {path: label for path, label, _ in blocks_of(pack)}
        for item in pack.items:
            last = len((sample_repo / item.path).read_text(encoding="utf-8").rstrip("\n").split("\n"))
            assert labels[item.path] == f"1-{last}", (item.path, labels)
        check_labels(pack, sample_repo)
    # The blank lines between two functions are kept, so line numbers inside the block are exact.
    assert "    return slugify(self.name)\n\n    def greet" in pack.text


def test_each_run_of_a_file_says_which_lines_it_holds(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    body = "".join(f"        total += {i}\n" for i in range(30))
    (root / "calc.py").write_text(
        "import math\n\n\nclass Calc:\n    \"\"\"Sums.\"\"\"\n\n    def big(self):\n        total = 0\n" + body
        + "        return total\n\n    def small(self, x):\n        return math.sqrt(x)\n\n\n"
        "def helper(y):\n" + body.replace("        ", "    ") + "    return y\n",
        encoding="utf-8",
    )
    reader = open_reader(root)
    rows = chunk_rows(reader)
    small = [_hit(rows, "calc.py", "Calc.small", 2.0)]
    helper = _hit(rows, "calc.py", "helper", 1.0)
    for fmt in ("markdown", "xml"):
        # A method with its class header: two runs, each labelled, a gap line between them.
        pack = pack_context("q", small, reader, budget=2000, fmt=fmt)
        ((_, label, body),) = blocks_of(pack)
        assert label == "4-5,41-42", label
        assert body == 'class Calc:\n    """Sums."""\n…\n    def small(self, x):\n        return math.sqrt(x)\n'
        check_labels(pack, root)
        # A skeleton: every kept line is labelled, and no elision marker stands among them.
        skeleton_only = None
        for budget in range(40, 400, 5):
            try:
                candidate = pack_context("q", [helper], reader, budget=budget, fmt=fmt)
            except BudgetTooSmallError:
                continue
            if [it.kind for it in candidate.items] == ["skeleton"]:
                skeleton_only = candidate
                break
        assert skeleton_only is not None
        ((_, label, body),) = blocks_of(skeleton_only)
        assert label.count(",") >= 2 and "..." not in body, (label, body)
        check_labels(skeleton_only, root)


def test_a_signature_written_over_several_lines_is_shown_as_its_lines(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    body = "".join(f"    value = value + {i} * weight  # step {i}\n" for i in range(40))
    (root / "long.py").write_text(
        "def weigh(\n    value: int,\n    weight: int = 2,\n) -> int:\n" + body + "    return value\n",
        encoding="utf-8",
    )
    reader = open_reader(root)
    rows = chunk_rows(reader)
    hit = [_hit(rows, "long.py", "weigh", 1.0)]
    forms = {}
    for budget in range(20, 120, 2):
        try:
            pack = pack_context("q", hit, reader, budget=budget)
        except BudgetTooSmallError:
            continue
        forms.setdefault(pack.items[0].kind, pack)
    signature = forms["signature"]
    assert signature.items[0].lines == ((1, 4),)
    assert "def weigh(\n    value: int,\n    weight: int = 2,\n) -> int:\n" in signature.text
    assert blocks_of(signature)[0][1] == "1-4"
    check_verbatim(signature, root)
