"""Markdown sections and line windows for text without a grammar."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from exocortex.chunking import FileAnalysis, analyze, split_lines


def check_invariants(text: str, a: FileAnalysis, max_lines: int) -> None:
    lines = split_lines(text)
    covered: set[int] = set()
    prev_end = 0
    for c in a.chunks:
        assert 0 < c.start_line <= c.end_line <= len(lines)
        assert c.start_line > prev_end
        prev_end = c.end_line
        assert c.end_line - c.start_line + 1 <= max_lines
        assert c.text == "".join(lines[c.start_line - 1 : c.end_line])
        assert c.text.strip()
        covered.update(range(c.start_line, c.end_line + 1))
    assert all(n in covered for n, line in enumerate(lines, 1) if line.strip())
    sk = a.skeleton.split("\n")[:-1] if a.skeleton else []
    assert sk == [lines[r - 1].removesuffix("\n") for s, e in a.skeleton_lines for r in range(s, e + 1)]


def table(a: FileAnalysis) -> list[tuple[int, int, str, str]]:
    return [(c.start_line, c.end_line, c.kind, c.symbol) for c in a.chunks]


# --- lines ---------------------------------------------------------------------


def test_split_lines_keeps_endings_and_splits_on_newline_only() -> None:
    assert split_lines("") == []
    assert split_lines("a") == ["a"]
    assert split_lines("a\n") == ["a\n"]
    assert split_lines("a\r\nb\rc\n\nd") == ["a\r\n", "b\rc\n", "\n", "d"]
    assert split_lines("x\x0cy\u2028z\n") == ["x\x0cy\u2028z\n"]


# --- markdown --------------------------------------------------------------------

README = """\
exocortex keeps context.
Second line of the intro.

# Install

Run `pip install exocortex` and call `Index.add()`.

## From source

```bash
# not a heading: a shell comment inside a fence
make install
```

~~~
## also not a heading
~~~

### Notes ###

#NotAHeading
    # indented four spaces: code, not a heading

# Usage
Call `analyze`.
"""


def test_markdown_sections_by_heading() -> None:
    a = analyze("README.md", README)
    check_invariants(README, a, 200)
    assert a.language == "markdown" and a.structural
    assert table(a) == [
        (1, 2, "module", ""),
        (4, 6, "section", "Install"),
        (8, 17, "section", "From source"),  # fenced "#" lines stay inside the section
        (19, 22, "section", "Notes"),  # closing hashes are not part of the title
        (24, 25, "section", "Usage"),
    ]


def test_markdown_definitions_outline_and_refs() -> None:
    a = analyze("README.md", README)
    assert [(d.name, d.kind, d.start_line, d.end_line, d.signature) for d in a.definitions] == [
        ("Install", "section", 4, 22, "# Install"),  # spans its subsections
        ("From source", "section", 8, 22, "## From source"),
        ("Notes", "section", 19, 22, "### Notes ###"),
        ("Usage", "section", 24, 25, "# Usage"),
    ]
    assert a.skeleton == "# Install\n## From source\n### Notes ###\n# Usage\n"
    assert a.skeleton_lines == ((4, 4), (8, 8), (19, 19), (24, 24))
    assert {"Index", "add", "analyze"} <= set(a.references)
    assert a.imports == ()


def test_markdown_unclosed_fence_hides_later_headings() -> None:
    text = "# A\n```\n# inside\n# still inside\n"
    a = analyze("x.md", text)
    assert table(a) == [(1, 4, "section", "A")]


def test_markdown_long_section_is_split() -> None:
    body = "".join(f"line {i}\n" if i % 10 else "\n" for i in range(1, 120))
    text = "# Big\n" + body + "# Small\nend\n"
    a = analyze("big.markdown", text, markdown_max_section_lines=25)
    check_invariants(text, a, 25)
    big = [c for c in a.chunks if c.symbol == "Big"]
    assert len(big) >= 5 and all(c.kind == "section" for c in big)
    assert big[0].start_line == 1
    assert table(a)[-1] == (121, 122, "section", "Small")


def test_markdown_without_headings_is_one_module_chunk() -> None:
    text = "just\nsome\n\nprose\n"
    a = analyze("x.md", text)
    assert table(a) == [(1, 4, "module", "")]
    assert a.skeleton == "" and a.definitions == ()


# --- plain text -------------------------------------------------------------------


def test_plain_text_windows() -> None:
    text = "".join(f"row {i}\n" for i in range(1, 131))
    a = analyze("notes.txt", text, text_window_lines=60)
    check_invariants(text, a, 60)
    assert a.language is None and not a.structural
    assert [c.kind for c in a.chunks] == ["window"] * 3
    assert all(c.symbol == "" for c in a.chunks)
    assert a.skeleton == "" and a.skeleton_lines == () and a.definitions == ()


def test_plain_text_windows_prefer_paragraph_breaks() -> None:
    para = "".join(f"word {i}\n" for i in range(8))
    text = "\n".join([para] * 6)  # six paragraphs of 8 lines
    a = analyze("notes.txt", text, text_window_lines=20)
    check_invariants(text, a, 20)
    for c in a.chunks:  # each window ends at a paragraph end
        assert c.text.endswith("word 7\n")


def test_plain_text_blank_file() -> None:
    for text in ("", "\n\n", "  \t \n"):
        a = analyze("empty.txt", text)
        assert a.chunks == ()


# --- property-based -------------------------------------------------------------------

_MD = ["# ", "## ", "###### ", "####### ", "```", "~~~", "    ", "`x`", "text", "#", "\n", "\n", "\r\n", " "]


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_MD), max_size=150),
    size=st.integers(min_value=1, max_value=15),
)
def test_random_markdown_keeps_invariants(pieces: list[str], size: int) -> None:
    text = "".join(pieces)
    a = analyze("r.md", text, markdown_max_section_lines=size)
    assert a.structural
    check_invariants(text, a, size)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=600), size=st.integers(min_value=1, max_value=15))
def test_random_text_keeps_invariants(text: str, size: int) -> None:
    a = analyze("r.txt", text, text_window_lines=size)
    check_invariants(text, a, size)
    a = analyze("r.md", text, markdown_max_section_lines=size)
    check_invariants(text, a, size)
