"""Follow a tree's changes with ``watchfiles``, so an answer knows whether the index is current.

A :class:`ChangeWatcher` runs one thread that collects the paths changed under the root since
the last refresh. Deciding that nothing changed needs more than "no event yet": an edit made a
millisecond before a question may still be on its way through the watcher's debounce. So
:meth:`ChangeWatcher.settle` writes a *barrier* file into the store and waits for the watcher
to report it. File events come from one kernel queue in order, so once the barrier is seen,
every change made before it has been collected too. That costs about one watcher step (tens of
milliseconds) instead of a walk and a stat of every file.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from exocortex.log import get_logger

log = get_logger(__name__)

BARRIER_FILE = "watch-barrier"
"""The file in the store that :meth:`ChangeWatcher.settle` writes to flush the watcher's queue."""


class ChangeWatcher:
    """Paths changed under ``root`` since :meth:`take` was last called, collected on a thread.

    ``debounce_ms`` groups a burst of writes (an editor's save, a ``git checkout``) into one
    batch; ``step_ms`` is how long the watcher waits for more before it reports a batch.
    """

    def __init__(self, root: Path, store: Path, *, debounce_ms: int = 200, step_ms: int = 10) -> None:
        self.root = root
        self.store = store
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self._barrier = store / BARRIER_FILE
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        self._overflow = False
        self._seen_barrier = threading.Condition(self._lock)
        """Notified when a barrier or a batch of changes arrives, and when the watcher stops."""
        self._barrier_count = 0
        self._stop = threading.Event()
        self._started = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="exocortex-watch", daemon=True)
        self.batches = 0
        """How many batches of changes the watcher has reported (for status and tests)."""

    # --- the thread -------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> ChangeWatcher:
        """Start watching; returns once the watcher is set up (or raises what stopped it)."""
        self._thread.start()
        if not self._started.wait(timeout_s) and self._failed is None:
            log.warning("the file watcher is slow to start: answers scan the tree until it runs", waited_s=timeout_s)
        if self._failed is not None:
            raise self._failed
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._seen_barrier.notify_all()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _keep(self, path: str) -> bool:
        if path == str(self._barrier):
            return True
        if _under(path, self.store):
            return False
        return not _under(path, self.root / ".git") or path.endswith(("/.git/HEAD", "/.git/index"))

    def _run(self) -> None:
        import watchfiles

        paths = [str(self.root)]
        if not _under(str(self.store), self.root):
            self.store.mkdir(parents=True, exist_ok=True)
            paths.append(str(self.store))
        try:
            changes_iter = watchfiles.watch(
                *paths,
                watch_filter=lambda _change, path: self._keep(path),
                debounce=self.debounce_ms,
                step=self.step_ms,
                stop_event=self._stop,
                rust_timeout=500,
                yield_on_timeout=True,
                raise_interrupt=False,
                ignore_permission_denied=True,
            )
            self._started.set()
            for changes in changes_iter:
                if self._stop.is_set():
                    break
                self._record({path for _change, path in changes})
        except BaseException as exc:  # noqa: BLE001  (reported to the caller; answers fall back to scanning)
            self._failed = exc
            self._started.set()
            log.warning("the file watcher stopped: answers scan the tree from now on", error=str(exc))
        finally:
            self._stop.set()
            with self._lock:
                self._seen_barrier.notify_all()

    def _record(self, paths: set[str]) -> None:
        with self._lock:
            if str(self._barrier) in paths:
                paths.discard(str(self._barrier))
                self._barrier_count += 1
                self._seen_barrier.notify_all()
            if paths:
                self.batches += 1
                self._seen_barrier.notify_all()
                if len(self._changed) < 100_000:
                    self._changed.update(paths)
                else:
                    self._overflow = True

    # --- what callers use ---------------------------------------------------------------------

    def settle(self, timeout_s: float = 2.0) -> bool:
        """Wait until every change made before this call has been collected; False if that cannot be known.

        Writes the barrier file and waits for the watcher to report it. False when the watcher
        is not running or the barrier did not come back within ``timeout_s`` (the caller then
        scans the tree, as it would without a watcher).
        """
        if not self.alive:
            return False
        with self._lock:
            wanted = self._barrier_count + 1
        try:
            self.store.mkdir(parents=True, exist_ok=True)
            with open(self._barrier, "w", encoding="ascii") as fh:
                fh.write(f"{os.getpid()} {time.time_ns()}\n")
        except OSError:
            return False
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._barrier_count < wanted:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._seen_barrier.wait(left)
        return True

    def wait_for_changes(self, timeout_s: float) -> bool:
        """Block until some change is collected (True), the timeout passes or the watcher stops (False)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not (self._changed or self._overflow):
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._seen_barrier.wait(left)
        return True

    def take(self) -> tuple[set[str], bool]:
        """The changed paths collected so far (absolute), and whether some were dropped; clears both."""
        with self._lock:
            changed, overflow = self._changed, self._overflow
            self._changed, self._overflow = set(), False
        return changed, overflow

    def put_back(self, paths: set[str]) -> None:
        """Return paths taken by :meth:`take` whose update failed, so the next refresh tries again."""
        with self._lock:
            self._changed |= paths


def _under(path: str, folder: Path) -> bool:
    text = str(folder)
    return path == text or path.startswith(text.rstrip(os.sep) + os.sep)
