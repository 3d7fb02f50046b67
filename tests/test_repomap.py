"""The query-less outline (`Index.map`, `exocortex map`) and tokens per directory (`Index.tree`, `status --tree`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exocortex.api import Index
from exocortex.cli import main
from exocortex.errors import BudgetTooSmallError, ConfigError, NoMatchesError, UsageError
from exocortex.tokens import count_tokens

from .samples import SAMPLE_FILES, write_tree

# A small project with a clear centre: pricing.py defines what every other module uses.
CENTRAL_FILES = {
    "shop/pricing.py": '''
        """Prices."""


        def compute_total_price(items):
            return sum(item_price_cents(i) for i in items)


        def item_price_cents(item):
            return item["cents"]
        ''',
    "shop/cart.py": '''
        from shop.pricing import compute_total_price


        class ShoppingCart:
            def total(self):
                return compute_total_price(self.items)
        ''',
    "shop/invoice.py": '''
        from shop.pricing import compute_total_price, item_price_cents


        def render_invoice(items):
            lines = [str(item_price_cents(i)) for i in items]
            return "\\n".join(lines) + str(compute_total_price(items))
        ''',
    "shop/checkout.py": '''
        from shop.cart import ShoppingCart
        from shop.pricing import compute_total_price


        def checkout_cart(cart: ShoppingCart):
            return compute_total_price(cart.items)
        ''',
    "tools/leaf_script_with_a_rather_long_name.py": '''
        def lonely_helper_nobody_calls():
            return 1
        ''',
    "README.md": "# Shop\n\nA shop.\n",
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("shop")
    write_tree(root, CENTRAL_FILES)
    index = Index.open(root, workers=1)
    index.update()
    return index


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("sample")
    write_tree(root, SAMPLE_FILES)
    index = Index.open(root, workers=1)
    index.update()
    return index


def _paths(text: str) -> list[str]:
    """The path lines of a map (definition lines start with a line number and a colon)."""
    return [line for line in text.splitlines() if not line.split(":", 1)[0].replace("-", "").isdigit()]


@pytest.mark.parametrize("tokenizer", ["o200k_base", "cl100k_base"])
def test_the_budget_is_never_exceeded(shop: Index, tokenizer: str) -> None:
    fitted = 0
    for budget in [*range(1, 80, 3), 100, 150, 233, 500, 2000, 10**6]:
        try:
            outline = shop.map(budget, tokenizer=tokenizer)
        except BudgetTooSmallError:
            assert budget < 8  # only when not even the top file's path fits
            continue
        fitted += 1
        assert outline.tokens == count_tokens(outline.text, tokenizer) <= budget
        assert outline.budget == budget and outline.tokenizer == tokenizer
        assert [f["path"] for f in outline.files] == _paths(outline.text)
    assert fitted > 25


def test_central_files_rank_first(shop: Index) -> None:
    outline = shop.map(10**6)
    order = [f["path"] for f in outline.files]
    assert order[0] == "shop/pricing.py"
    assert order.index("shop/cart.py") < order.index("tools/leaf_script_with_a_rather_long_name.py")
    ranks = [f["rank"] for f in outline.files]
    assert ranks == sorted(ranks, reverse=True)
    assert outline.total_files == len(CENTRAL_FILES) == len(outline.files)


def test_definitions_show_line_ranges_and_signatures(shop: Index) -> None:
    text = shop.map(10**6).text
    assert "shop/pricing.py\n4-5: def compute_total_price(items):\n8-9: def item_price_cents(item):\n" in text
    assert "4-6: class ShoppingCart:\n5-6:   def total(self):\n" in text  # a method indented under its class
    every = shop.map(10**6).files
    assert all(len(f["symbols"]) == f["definitions"] for f in every)


def test_a_tight_budget_keeps_paths_and_drops_definitions(shop: Index) -> None:
    full = shop.map(10**6)
    tight = shop.map(full.tokens // 2)
    assert tight.tokens <= full.tokens // 2
    assert sum(len(f["symbols"]) for f in tight.files) < sum(len(f["symbols"]) for f in full.files)
    assert any(not f["symbols"] and f["definitions"] for f in tight.files)  # a path alone
    assert tight.files[0]["path"] == "shop/pricing.py"
    assert "compute_total_price" in tight.files[0]["symbols"]  # the most used definition stays


def test_a_budget_below_one_path_is_refused(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a_deeply/nested_directory/with_a_very_long_module_name.py": "def f():\n    return 1\n"})
    index = Index.open(tmp_path, workers=1)
    index.update()
    with pytest.raises(BudgetTooSmallError, match="raise the budget"):
        index.map(3)
    assert index.map(30).text.startswith("a_deeply/nested_directory/with_a_very_long_module_name.py\n")


def test_budget_strings_and_bad_budgets(sample: Index) -> None:
    assert sample.map("1k").budget == 1000
    for bad in (0, -5, "lots", "1.5"):
        with pytest.raises(ConfigError):
            sample.map(bad)
    with pytest.raises(ConfigError):
        sample.map(500, tokenizer="gpt2")


def test_include_limits_the_files(sample: Index) -> None:
    outline = sample.map(2000, include=["app/**"])
    assert [f["path"] for f in outline.files] == ["app/util.py", "app/models.py"]
    assert outline.total_files == 2
    assert {f["path"] for f in sample.map(2000, include=["*.md", "*.txt"]).files} == {"docs/guide.md", "notes.txt"}
    with pytest.raises(NoMatchesError, match="include"):
        sample.map(2000, include=["nothing/**"])
    with pytest.raises(UsageError):
        sample.map(2000, include=[""])


def test_focus_puts_a_file_and_its_neighbours_first(shop: Index) -> None:
    outline = shop.map(10**6, focus=["tools/leaf_script_with_a_rather_long_name.py"])
    assert outline.files[0]["path"] == "tools/leaf_script_with_a_rather_long_name.py"
    by_glob = shop.map(10**6, focus=["shop/check*.py"])
    order = [f["path"] for f in by_glob.files]
    assert order[0] == "shop/checkout.py"
    # checkout uses the cart and pricing: they come before the invoice, which it does not use
    assert order.index("shop/cart.py") < order.index("shop/invoice.py")
    with pytest.raises(NoMatchesError, match="focus"):
        shop.map(1000, focus=["nope.py"])


def test_a_path_starting_with_a_space_still_fits(tmp_path: Path) -> None:
    # A line starting with whitespace can join the previous line's tokens: the final count catches it.
    write_tree(tmp_path, {f"  spaced{i}/ mod{i}.py": f"def fn_{i}(x):\n    return x\n" for i in range(12)})
    index = Index.open(tmp_path, workers=1)
    index.update()
    for budget in range(10, 120, 7):
        outline = index.map(budget)
        assert outline.tokens == count_tokens(outline.text) <= budget


def test_map_to_dict_is_json_and_says_how_fresh(sample: Index) -> None:
    data = json.loads(json.dumps(sample.map(300).to_dict()))
    assert set(data) == {"text", "tokens", "budget", "tokenizer", "files", "total_files", "index"}
    assert set(data["files"][0]) == {"path", "rank", "symbols", "definitions"}
    assert data["index"]["checked"] == "scan" and data["index"]["changed_files"] == 0


def test_tree_aggregates_tokens_per_directory(tmp_path: Path) -> None:
    write_tree(tmp_path, {**SAMPLE_FILES, "app/sub/deep.py": "def deep():\n    return 1\n"})
    index = Index.open(tmp_path, workers=1)
    index.update()
    rows = index.tree()
    assert [r["directory"] for r in rows] == [".", "app", "app/sub", "docs", "web"]
    by_dir = {r["directory"]: r for r in rows}
    status = index.status()
    assert by_dir["."]["files"] == status.files == 6 and by_dir["."]["tokens"] == status.tokens
    assert by_dir["."]["bytes"] == status.bytes
    assert by_dir["app"]["files"] == 3 and by_dir["app/sub"]["files"] == 1 and by_dir["app/sub"]["depth"] == 2
    assert by_dir["app"]["tokens"] > by_dir["app/sub"]["tokens"] > 0
    assert [r["directory"] for r in index.tree(depth=1)] == [".", "app", "docs", "web"]
    assert index.tree(depth=1)[1] == by_dir["app"]  # the subtree's totals, whatever the depth shown
    assert [r["directory"] for r in index.tree(depth=0)] == ["."]
    with pytest.raises(UsageError):
        index.tree(depth=-1)


# --- the command line ------------------------------------------------------------------------------


def test_map_command(shop: Index, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(shop.root)
    code, out, _ = run(capsys, "map", "-C", root, "--budget", "60")
    assert code == 0 and out.startswith("shop/pricing.py\n") and count_tokens(out) <= 60
    code, out, _ = run(capsys, "map", "-C", root, "--json", "--include", "shop/**", "--focus", "shop/cart.py")
    data = json.loads(out)
    assert code == 0 and data["files"][0]["path"] == "shop/cart.py" and data["budget"] == 2000
    assert all(f["path"].startswith("shop/") for f in data["files"])
    code, out, _ = run(capsys, "map", "-C", root, "--jsonl", "--budget", "1k")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and rows[0]["path"] == "shop/pricing.py" and len(rows) == len(CENTRAL_FILES)
    assert run(capsys, "map", "-C", root, "--budget", "2")[0] == 11
    assert run(capsys, "map", "-C", root, "--include", "zzz/**")[0] == 12
    assert run(capsys, "map", "-C", root, "--json", "--jsonl")[0] == 2


def test_map_escapes_odd_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path, {"e\x1b[31mvil.py": "def evil_function():\n    return 1\n", "ok.py": "x = 1\n"})
    Index.open(tmp_path, workers=1).update()
    code, out, _ = run(capsys, "map", "-C", str(tmp_path))
    assert code == 0 and "\x1b" not in out and "e\\x1b[31mvil.py" in out
    code, out, _ = run(capsys, "map", "-C", str(tmp_path), "--jsonl")
    assert "e\x1b[31mvil.py" in [json.loads(line)["path"] for line in out.splitlines()]


def test_status_tree_command(sample: Index, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(sample.root)
    code, out, _ = run(capsys, "status", root, "--tree")
    lines = out.splitlines()
    assert code == 0 and "directory" in lines[0]
    assert lines[1].split()[-1] == "." and lines[2].split()[-1] == "app"
    code, out, _ = run(capsys, "status", root, "--tree", "--depth", "0", "--json")
    data = json.loads(out)
    assert code == 0 and [r["directory"] for r in data["directories"]] == ["."]
    assert data["tokenizer"] == "o200k_base"
    code, out, _ = run(capsys, "status", root, "--tree", "--jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["directory"] for r in rows] == [".", "app", "docs", "web"]
    assert rows[0]["files"] == sample.status().files


def test_the_final_count_trims_what_the_line_sums_let_through(sample: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lines are counted one by one while the map is filled; should their sum ever fall short of the
    # whole text's count, the exact count at the end takes lines out until the text fits.
    from exocortex.search import repomap

    def everything(paths: list[str], weights: list[float], definitions: dict[str, list[object]],
                   budget: int, counter: object) -> dict[int, list[int]]:
        return {pos: list(range(len(definitions.get(path, [])))) for pos, path in enumerate(paths)}

    monkeypatch.setattr(repomap, "_fit", everything)
    full = sample.map(10**6)
    outline = sample.map(full.tokens // 3)
    assert outline.tokens == count_tokens(outline.text) <= full.tokens // 3
    assert outline.text and full.text.startswith(outline.text.split("\n", 1)[0])
