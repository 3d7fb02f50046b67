"""Paths in a pack's text: one line each in markdown, exact in XML attributes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from exocortex.pack.render import render_block, render_head, render_tail, shown_path

PATHS = ["src/a\nb.py", "src/tab\there.py", "src/cr\rlf.py", "src/e\x1b[2J.py", "src/rtl\u202eyp.py", "plain/ok.py"]


def test_markdown_shows_each_path_on_one_line() -> None:
    text = render_head(PATHS, "markdown") + "".join(render_block(p, "python", "x = 1\n", "markdown") for p in PATHS)
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == [f"### {shown_path(p)}" for p in PATHS]
    assert "### src/a\\nb.py" in headings and "### src/e\\x1b[2J.py" in headings
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    tree = text.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    assert tree == ["plain/", "  ok.py", "src/", "  a\\nb.py", "  cr\\rlf.py", "  e\\x1b[2J.py", "  rtl\\u202eyp.py",
                    "  tab\\there.py"]


@pytest.mark.parametrize("path", PATHS)
def test_xml_attributes_give_the_exact_path_back(path: str) -> None:
    text = render_head([path], "xml") + render_block(path, "python", "x = 1\n", "xml") + render_tail("xml")
    (element,) = ET.fromstring(text).iter("file")
    expected = path.replace("\x1b", "\ufffd")  # XML 1.0 cannot carry ESC at all
    assert element.get("path") == expected
    assert element.text == "\nx = 1\n"


def test_the_label_follows_the_path_in_markdown_and_is_an_attribute_in_xml() -> None:
    ranges = ((3, 9), (12, 12), (20, 31))
    markdown = render_block("src/a:b.py", "python", "x = 1\n…\ny = 2\n…\nz = 3\n", "markdown", ranges)
    assert markdown.startswith("### src/a:b.py:3-9,12,20-31\n```python\n")
    block = render_block("src/a:b.py", None, "x\n", "xml", ranges)
    text = render_head(["src/a:b.py"], "xml") + block + render_tail("xml")
    (element,) = ET.fromstring(text).iter("file")
    assert element.get("path") == "src/a:b.py" and element.get("lines") == "3-9,12,20-31"
