"""The small sample repository the tests index, and how to write a tree of files (a plain module:
``conftest.py`` and the bad-input catalogue, which the benchmarks import too, share it)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

SAMPLE_FILES = {
    "app/models.py": '''
        """Domain models."""
        import dataclasses
        from .util import slugify


        @dataclasses.dataclass
        class User:
            """A user of the system."""

            name: str

            def slug(self) -> str:
                return slugify(self.name)

            def greet(self, other: "User") -> str:
                return f"hello {other.name}, I am {self.name}"


        def make_user(name: str) -> User:
            return User(name)
        ''',
    "app/util.py": '''
        import re


        def slugify(text: str) -> str:
            """Lower-case and dash-join the words of text."""
            return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
        ''',
    "web/client.js": """
        import { fetchJson } from "./http.js";

        export class Client {
          constructor(base) {
            this.base = base;
          }

          async user(id) {
            return fetchJson(`${this.base}/users/${id}`);
          }
        }

        export const ping = () => fetchJson("/ping");
        """,
    "docs/guide.md": """
        # Guide

        Start here.

        ## Install

        Run `make run`.

        ## Use

        Call the API.
        """,
    "notes.txt": "plain text line\n" * 5,
}


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write ``files`` (relative path -> text, dedented, or bytes as they are) under ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
