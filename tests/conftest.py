from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def sample_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    write_tree(root, SAMPLE_FILES)
    return root


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own settings must not change what the tests see.
    for key in list(os.environ):
        if key.startswith("EXOCORTEX_"):
            monkeypatch.delenv(key)


@contextlib.contextmanager
def store_locked_by_another_process(store: Path) -> Iterator[int]:
    """Hold the store's writer lock from a separate process; yields that process's pid."""
    code = (
        "import time; from pathlib import Path; from exocortex.store.meta import writer_lock\n"
        f"with writer_lock(Path({str(store)!r})):\n    print('locked', flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()
