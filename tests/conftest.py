from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .samples import SAMPLE_FILES, write_tree  # noqa: F401  (re-exported to the tests)


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
