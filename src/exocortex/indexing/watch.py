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
WATCHING_FILE = "watching"
"""Names the ``exocortex watch`` process that keeps this store current (its pid and start time)."""
REQUESTS_DIR = "watch-requests"
"""Where another process asks the watch process to confirm the index is current: ``<token>.req``,
answered by ``<token>.ack`` (the answer's freshness as JSON) once every change made before the
request is in the index."""


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
        self._requests: set[str] = set()
        self._requests_dir = str(store / REQUESTS_DIR) + os.sep
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

    def _keep(self, change: object, path: str) -> bool:
        if path.startswith(self._requests_dir):  # a request made, not one answered (its file deleted)
            return path.endswith(".req") and getattr(change, "name", "") != "deleted"
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
                watch_filter=self._keep,
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
            asked = {p for p in paths if p.startswith(self._requests_dir)}
            if asked:
                paths -= asked
                self._requests.update(os.path.basename(p)[: -len(".req")] for p in asked)
                self._seen_barrier.notify_all()
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
        """Block until some change or request is collected (True), the timeout passes or the watcher stops."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not (self._changed or self._overflow or self._requests):
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._seen_barrier.wait(left)
        return True

    def take_requests(self) -> set[str]:
        """The tokens of the requests other processes made since the last call (see :func:`ask_watch_process`)."""
        with self._lock:
            tokens, self._requests = self._requests, set()
        return tokens

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


# --- one watch process serving the answers of other processes ------------------------------------


def announce(store: Path) -> None:
    """Say that this process (``exocortex watch``) answers the requests of :func:`ask_watch_process`."""
    from exocortex.store.meta import process_record

    (store / REQUESTS_DIR).mkdir(parents=True, exist_ok=True)
    tmp = store / f".{WATCHING_FILE}.{os.getpid()}"
    tmp.write_text(process_record() + "\n", encoding="ascii")
    os.replace(tmp, store / WATCHING_FILE)


def withdraw(store: Path) -> None:
    """Stop answering: remove the marker (only if it is still this process's)."""
    from exocortex.store.meta import process_record

    marker = store / WATCHING_FILE
    try:
        if marker.read_text(encoding="ascii").strip() == process_record():
            marker.unlink()
    except OSError:
        pass


def acknowledge(store: Path, tokens: set[str], answer: dict[str, object]) -> None:
    """Answer requests ``tokens``: the index is current as ``answer`` (a Freshness as a dict) says."""
    import json

    folder = store / REQUESTS_DIR
    for token in tokens:
        if not token.isalnum():
            continue  # not a name ask_watch_process makes
        tmp = folder / f".{token}.ack"
        try:
            tmp.write_text(json.dumps(answer), encoding="utf-8")
            os.replace(tmp, folder / f"{token}.ack")
            (folder / f"{token}.req").unlink(missing_ok=True)
        except OSError:
            continue


def ask_watch_process(store: Path, timeout_s: float = 2.0) -> dict[str, object] | None:
    """The freshness a running ``exocortex watch`` confirms for this store, or None (no such process,
    or no answer within ``timeout_s``: the caller then walks the tree itself).

    The request file is written after every change this process (an agent's edit) made, and the
    watch process sees file events in order: its answer comes once those changes are in the index.
    """
    import json
    import secrets

    from exocortex.store.meta import record_alive

    try:
        record = (store / WATCHING_FILE).read_text(encoding="ascii").strip()
    except OSError:
        return None
    if not record or not record_alive(record):
        return None
    folder = store / REQUESTS_DIR
    token = secrets.token_hex(8)
    request, ack = folder / f"{token}.req", folder / f"{token}.ack"
    try:
        request.write_text(record + "\n", encoding="ascii")
    except OSError:
        return None
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                answer = json.loads(ack.read_text(encoding="utf-8"))
            except FileNotFoundError:
                time.sleep(0.003)
                continue
            except (OSError, ValueError):
                return None
            return answer if isinstance(answer, dict) else None
        return None
    finally:
        request.unlink(missing_ok=True)
        ack.unlink(missing_ok=True)
