"""The memory governor: keep the process within a memory budget by asking caches to let go.

What it watches
---------------
- **RAM**: the process's resident set size (RSS, from ``psutil``) against a budget in bytes.
  The budget comes from the ``budget_bytes`` argument, else ``EXOCORTEX_MEMORY_BUDGET``, else
  ``DEFAULT_BUDGET_FRACTION`` (50%) of the machine's RAM (or of the cgroup memory limit, when a
  container sets a lower one). ``EXOCORTEX_MEMORY_BUDGET`` takes bytes (``1073741824``), a size
  with a unit (``4GiB``, ``512MB``, ``2G``) or a share of RAM (``50%``, ``0.5``: a plain number
  no greater than 1 is a fraction).
- **GPU**, when present: the bytes PyTorch holds on the current device
  (``torch.cuda.memory_reserved``: what the process has taken from the device, allocated tensors
  plus PyTorch's cache) against an optional GPU budget (``gpu_budget_bytes`` or
  ``EXOCORTEX_GPU_MEMORY_BUDGET``, same syntax, a share meaning of the device's memory). The
  governor never imports torch: it looks for a ``torch`` that the process has *already*
  imported, since a process that never imported it holds no PyTorch GPU memory, and importing it
  just to ask would cost seconds and hundreds of megabytes of RSS. Without torch (or CUDA) the
  GPU is simply not watched.

Levels
------
A level sets three fractions of the budget: above ``act`` the governor starts releasing; it
stops once usage is at or under ``target`` (lower than ``act``, so one release buys some room
instead of re-triggering on the next allocation); above ``critical`` every rule runs.

============  =====  ======  ========
level         act    target  critical
============  =====  ======  ========
conservative  90%    85%     98%
balanced      80%    70%     95%
aggressive    65%    50%     90%
============  =====  ======  ========

Rules
-----
A ``Rule`` has a name, an action, a condition, a cooldown and the resource it acts on (``ram``
or ``gpu``). The action is either a callable ``release(nbytes_wanted) -> bytes freed
(estimated)`` or the *kind* of releasers to run: owners of memory register releasers with
``governor.register(name, release, kind=...)`` (a cache, the vector tiers, the parsed-file
cache), so the governor knows nothing about what it frees. The condition is ``None`` (usage of
the rule's resource is above the level's ``act``: levels move these rules' thresholds), a float
(usage above that fraction of the budget, whatever the level) or a callable on a
``MemorySnapshot``.

The default rules, in the order they run (cheapest to lose first):

==================  =========  ========  ===================================================
rule                kind       cooldown  what it does
==================  =========  ========  ===================================================
collect-garbage     ``gc``       10 s    ``gc.collect()``, then hand freed heap back to the OS
demote-hot-tier     ``vectors``  60 s    the vector tiers move hot vectors to a colder tier
shrink-caches       ``cache``    30 s    the L1/L2 caches drop entries (``cache_releaser``)
drop-parsed         ``parsed``   60 s    parsed-file caches are dropped
release-gpu         ``gpu``      30 s    PyTorch's cached blocks, then owners' GPU releasers
==================  =========  ========  ===================================================

One ``check()`` takes a snapshot and walks the rules in order. A rule runs when its condition
holds and its cooldown has passed; each of its releasers is asked for the bytes still above the
target (0 when usage is not above it: the releaser then frees what it judges cheap), freed heap
is handed back to the OS (``heap.release_freed_memory``: without it, memory Python or NumPy
freed often stays mapped and RSS would not move), and usage is measured again. Once a rule has
acted on a resource, the later ``condition=None`` rules for it keep going while usage is above
the *target* (not only above ``act``), and as soon as an action brings the resource from above
the target to at or under it the pass stops for that resource. Above ``critical`` conditions and
cooldowns are ignored: every rule for that resource may run (still stopping at the target),
since being killed for running out of memory costs more than any cache.

Why a cooldown: a release takes effect slowly (a cache refills, a tier re-promotes what is hot)
and costs something each time (a full ``gc.collect`` walks every object; dropping a cache
costs the reloads after it). Without a cooldown a governor checking every second would release
the same thing over and over while usage hovers near the threshold, or keep paying for an
action that has nothing left to free.

Each releaser call is recorded as a ``MemoryEvent`` (rule, action, figures before and after,
the releaser's own estimate, budget, level, time), kept in a bounded history (``events()``) and
logged as a structured ``memory.action`` event (``memory.action_failed`` if the releaser raised;
the level is logged as ``governor_level``, since ``level`` is the log line's own severity).
Releasers are called from whichever thread runs ``check()`` (the background thread of
``start()``, if used): they must be thread-safe, quick, and must not call back into the
governor. A releaser that raises is logged and skipped.
"""

from __future__ import annotations

import gc
import math
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, Literal

import psutil

from exocortex.config import MEMORY_LEVELS, parse_budget_spec
from exocortex.log import get_logger
from exocortex.memory.cache import Level, MultiLevelCache
from exocortex.memory.heap import release_freed_memory

log = get_logger(__name__)

Resource = Literal["ram", "gpu"]
RESOURCES: tuple[Resource, ...] = ("ram", "gpu")

BUDGET_ENV = "EXOCORTEX_MEMORY_BUDGET"
GPU_BUDGET_ENV = "EXOCORTEX_GPU_MEMORY_BUDGET"
DEFAULT_BUDGET_FRACTION = 0.5  # of the machine's RAM (or cgroup limit) when no budget is configured
DEFAULT_HISTORY = 1000  # events kept by ``events()``
DEFAULT_INTERVAL_S = 2.0  # between checks of the background thread

Releaser = Callable[[int], int]
Condition = Callable[["MemorySnapshot"], bool] | float | None


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Fractions of the budget: start releasing above ``act``, stop at ``target``, all rules above ``critical``."""

    act: float
    target: float
    critical: float


LEVELS: dict[str, Thresholds] = {
    "conservative": Thresholds(act=0.90, target=0.85, critical=0.98),
    "balanced": Thresholds(act=0.80, target=0.70, critical=0.95),
    "aggressive": Thresholds(act=0.65, target=0.50, critical=0.90),
}
assert tuple(LEVELS) == MEMORY_LEVELS, "config.MEMORY_LEVELS names these levels, in this order"


@dataclass(frozen=True, slots=True)
class MemorySnapshot:
    """Usage at one moment; ``gpu`` and ``gpu_budget`` are None when the GPU is not watched."""

    rss: int
    budget: int
    gpu: int | None
    gpu_budget: int | None
    time: float

    @property
    def fraction(self) -> float:
        """RSS as a fraction of the budget."""
        return self.rss / self.budget

    @property
    def gpu_fraction(self) -> float | None:
        if self.gpu is None or self.gpu_budget is None:
            return None
        return self.gpu / self.gpu_budget

    def used(self, resource: Resource) -> int | None:
        return self.rss if resource == "ram" else self.gpu

    def limit(self, resource: Resource) -> int | None:
        return self.budget if resource == "ram" else self.gpu_budget

    def usage(self, resource: Resource) -> float | None:
        """The resource's fraction of its budget, or None when it is not watched."""
        return self.fraction if resource == "ram" else self.gpu_fraction


@dataclass(frozen=True, slots=True)
class Rule:
    """When to run an action: see the module docstring for the condition and action forms."""

    name: str
    action: str | Releaser
    condition: Condition = None
    cooldown_s: float = 30.0
    resource: Resource = "ram"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a rule needs a non-empty name, got {self.name!r}")
        if isinstance(self.action, str):
            if not self.action:
                raise ValueError(f"rule {self.name!r}: the action kind must be a non-empty string")
        elif not callable(self.action):
            raise ValueError(f"rule {self.name!r}: the action must be a releaser kind or a callable")
        cd = self.cooldown_s
        if isinstance(cd, bool) or not isinstance(cd, int | float) or not math.isfinite(cd) or cd < 0:
            raise ValueError(f"rule {self.name!r}: cooldown_s must be a finite number >= 0, got {cd!r}")
        cond = self.condition
        if isinstance(cond, bool):
            raise ValueError(f"rule {self.name!r}: the condition must be None, a fraction or a callable, got {cond!r}")
        if isinstance(cond, int | float):
            if not math.isfinite(cond) or cond <= 0:
                raise ValueError(f"rule {self.name!r}: a threshold must be a positive fraction, got {cond!r}")
        elif cond is not None and not callable(cond):
            raise ValueError(f"rule {self.name!r}: the condition must be None, a fraction or a callable, got {cond!r}")
        if self.resource not in RESOURCES:
            raise ValueError(f"rule {self.name!r}: resource must be one of {RESOURCES}, got {self.resource!r}")

    @property
    def action_name(self) -> str:
        if isinstance(self.action, str):
            return self.action
        return getattr(self.action, "__qualname__", None) or type(self.action).__name__

    def holds(self, snapshot: MemorySnapshot, thresholds: Thresholds, releasing: bool = False) -> bool:
        """Whether the condition holds (an unwatched resource never triggers a threshold).

        ``releasing``: an earlier rule of this pass already acted on the resource. A rule on the
        level's thresholds (``condition=None``) then keeps going while usage is above the
        target, not only above ``act``: that is what makes the target a target.
        """
        cond = self.condition
        if callable(cond):
            return bool(cond(snapshot))
        usage = snapshot.usage(self.resource)
        if usage is None:
            return False
        if cond is None:
            return usage > (thresholds.target if releasing else thresholds.act)
        return usage > float(cond)


def default_rules() -> list[Rule]:
    """The rules of the module docstring's table, cheapest to lose first."""
    return [
        Rule("collect-garbage", "gc", cooldown_s=10.0),
        Rule("demote-hot-tier", "vectors", cooldown_s=60.0),
        Rule("shrink-caches", "cache", cooldown_s=30.0),
        Rule("drop-parsed", "parsed", cooldown_s=60.0),
        Rule("release-gpu", "gpu", cooldown_s=30.0, resource="gpu"),
    ]


@dataclass(frozen=True, slots=True)
class MemoryEvent:
    """One releaser call: figures before and after it, in bytes; ``time`` is on the governor's clock."""

    rule: str
    action: str
    resource: Resource
    rss_before: int
    rss_after: int
    gpu_before: int | None
    gpu_after: int | None
    wanted: int  # bytes above the target the releaser was asked for
    freed_estimate: int  # what the releaser said it freed
    budget: int
    gpu_budget: int | None
    level: str
    critical: bool
    time: float
    error: str | None = None  # the releaser's exception, if it raised

    @property
    def freed(self) -> int:
        """Measured: how far the acted-on resource went down (negative if it grew)."""
        if self.resource == "gpu":
            return (self.gpu_before or 0) - (self.gpu_after or 0)
        return self.rss_before - self.rss_after


# -- measuring -----------------------------------------------------------------------------

_process: psutil.Process | None = None


def process_rss() -> int:
    """This process's resident set size in bytes."""
    global _process
    if _process is None or _process.pid != os.getpid():  # re-bind after a fork
        _process = psutil.Process()
    return int(_process.memory_info().rss)


def _loaded_torch_cuda() -> Any:
    """``torch.cuda`` if torch is already imported and CUDA usable, else None (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        cuda = torch.cuda
        return cuda if cuda.is_available() else None
    except Exception:  # a broken or partial torch install must not break the governor
        return None


def torch_gpu_reserved() -> int | None:
    """Bytes PyTorch holds on the current CUDA device, or None without a loaded torch and CUDA."""
    cuda = _loaded_torch_cuda()
    if cuda is None:
        return None
    try:
        return int(cuda.memory_reserved())
    except Exception:
        return None


def torch_gpu_total() -> int | None:
    """The current CUDA device's memory in bytes, or None without a loaded torch and CUDA."""
    cuda = _loaded_torch_cuda()
    if cuda is None:
        return None
    try:
        return int(cuda.get_device_properties(cuda.current_device()).total_memory)
    except Exception:
        return None


def _release_torch_cache(nbytes: int) -> int:
    """The ``gpu`` kind's built-in releaser: return PyTorch's cached, unused blocks to the driver."""
    cuda = _loaded_torch_cuda()
    if cuda is None:
        return 0
    before = int(cuda.memory_reserved())
    gc.collect()  # tensors kept alive only by reference cycles
    cuda.empty_cache()
    return max(0, before - int(cuda.memory_reserved()))


def total_ram() -> int:
    """The machine's RAM in bytes, or the cgroup memory limit when a container sets a lower one."""
    total = int(psutil.virtual_memory().total)
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            return int(text)
    return total


def _collect_garbage(nbytes: int) -> int:
    """The ``gc`` kind's built-in releaser: collect cycles, hand freed heap back; returns RSS freed."""
    before = process_rss()
    gc.collect()
    release_freed_memory()
    return max(0, before - process_rss())


# -- budgets -------------------------------------------------------------------------------

def parse_memory_budget(text: str, total_bytes: int, *, what: str = BUDGET_ENV) -> int:
    """A budget in bytes from ``text`` (see the module docstring); shares are of ``total_bytes``."""
    spec = parse_budget_spec(text, what)
    if isinstance(spec, float):
        return max(1, int(spec * total_bytes))
    return spec


def memory_budget_from_env(environ: Mapping[str, str] | None = None) -> int:
    """``EXOCORTEX_MEMORY_BUDGET`` in bytes, or ``DEFAULT_BUDGET_FRACTION`` of ``total_ram()``."""
    env = os.environ if environ is None else environ
    text = env.get(BUDGET_ENV, "").strip()
    if not text:
        return max(1, int(DEFAULT_BUDGET_FRACTION * total_ram()))
    return parse_memory_budget(text, total_ram())


def _check_budget(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive number of bytes, got {value!r}")
    return value


# -- releasers for this project's resources ------------------------------------------------


def cache_releaser(cache: MultiLevelCache[Any, Any], levels: Iterable[str | int] | None = None) -> Releaser:
    """A releaser that shrinks a ``MultiLevelCache`` (``MultiLevelCache.shrink``), coldest level first.

    ``levels`` defaults to the in-memory levels (``cache.Level``; a disk level holds no RAM).
    Entries go in each level's own eviction order, so the hottest stay. Asked for 0 bytes (the
    governor is below its target), it frees a quarter of what the levels hold. The cache is held
    weakly: once it is gone the releaser frees nothing. The estimate is in the cache's own sizes.
    """
    ref = weakref.ref(cache)
    chosen = None if levels is None else list(levels)

    def release(nbytes: int) -> int:
        target = ref()
        if target is None:
            return 0
        if nbytes <= 0:
            held = sum(lv.bytes for lv in target.levels if isinstance(lv, Level))
            nbytes = max(1, held // 4)
        return target.shrink(nbytes, chosen)

    return release


# -- the governor --------------------------------------------------------------------------


@dataclass
class _Registered:
    name: str
    kind: str
    call: Callable[[], Releaser | None]  # None once a weakly held owner is gone


@dataclass
class _RuleStats:
    runs: int = 0
    actions: int = 0
    errors: int = 0
    freed: int = 0  # measured, summed over the rule's actions
    last_run: float | None = None


@dataclass
class _Totals:
    checks: int = 0
    critical: int = 0
    rules: dict[str, _RuleStats] = field(default_factory=dict)


class MemoryGovernor:
    """Keeps RSS (and, when watched, GPU memory) within budget; see the module docstring.

    ``rss`` and ``gpu`` measure usage (``gpu=None`` does not watch the GPU; ``gpu_total`` sizes
    a GPU budget given as a share); ``clock`` times cooldowns and events. ``trim`` is called after
    each action so freed memory leaves the process before usage is measured again.
    """

    def __init__(
        self,
        budget_bytes: int | None = None,
        level: str = "balanced",
        rules: Iterable[Rule] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rss: Callable[[], int] = process_rss,
        gpu: Callable[[], int | None] | None = torch_gpu_reserved,
        gpu_budget_bytes: int | None = None,
        gpu_total: Callable[[], int | None] = torch_gpu_total,
        trim: Callable[[], None] = release_freed_memory,
        history: int = DEFAULT_HISTORY,
    ) -> None:
        self._budget = memory_budget_from_env() if budget_bytes is None else _check_budget(budget_bytes, "budget_bytes")
        self._gpu_budget: int | float | None
        if gpu_budget_bytes is not None:
            self._gpu_budget = _check_budget(gpu_budget_bytes, "gpu_budget_bytes")
        else:
            text = os.environ.get(GPU_BUDGET_ENV, "").strip()
            self._gpu_budget = parse_budget_spec(text, GPU_BUDGET_ENV) if text else None
        self._level = self._check_level(level)
        self._rules = list(default_rules() if rules is None else rules)
        for rule in self._rules:
            if not isinstance(rule, Rule):
                raise ValueError(f"rules must be Rule instances, got {type(rule).__name__}")
        names = [rule.name for rule in self._rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique, got {names}")
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ValueError(f"history must be a positive number of events, got {history!r}")
        self._clock = clock
        self._rss = rss
        self._gpu = gpu
        self._gpu_total = gpu_total
        self._trim = trim
        self._releasers: list[_Registered] = []
        self._events: deque[MemoryEvent] = deque(maxlen=history)
        self._totals = _Totals(rules={name: _RuleStats() for name in names})
        self._lock = threading.Lock()  # one check at a time; guards the releasers, events and totals
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        kinds = self.kinds()
        if "gc" in kinds:
            self.register("gc.collect", _collect_garbage, kind="gc")
        if "gpu" in kinds:
            self.register("torch.empty_cache", _release_torch_cache, kind="gpu")

    # -- configuration ------------------------------------------------------------------

    @staticmethod
    def _check_level(level: object) -> str:
        if not isinstance(level, str) or level not in LEVELS:
            raise ValueError(f"unknown memory governor level {level!r} (choose from {', '.join(LEVELS)})")
        return level

    @property
    def budget(self) -> int:
        return self._budget

    @property
    def gpu_budget(self) -> int | None:
        """The GPU budget in bytes; None when none is set or a share cannot be sized (no GPU)."""
        spec = self._gpu_budget
        if isinstance(spec, float):
            total = self._gpu_total()
            return None if total is None else max(1, int(spec * total))
        return spec

    @property
    def level(self) -> str:
        return self._level

    @level.setter
    def level(self, value: str) -> None:
        self._level = self._check_level(value)

    @property
    def thresholds(self) -> Thresholds:
        return LEVELS[self._level]

    @property
    def rules(self) -> list[Rule]:
        return list(self._rules)

    def kinds(self) -> set[str]:
        """The releaser kinds some rule runs."""
        return {rule.action for rule in self._rules if isinstance(rule.action, str)}

    def register(self, name: str, release: Releaser, kind: str = "cache") -> None:
        """Offer a way to free memory: ``release(nbytes_wanted)`` returns the bytes it freed (estimated).

        Releasers of one kind run in the order they were registered. A bound method is held
        weakly (the governor does not keep its owner alive; it is dropped once the owner is
        gone); other callables are held as given. A name registered again replaces the old one.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a releaser needs a non-empty name, got {name!r}")
        if not callable(release):
            raise ValueError(f"releaser {name!r} must be callable as release(nbytes) -> bytes freed")
        kinds = self.kinds()
        if kind not in kinds:
            raise ValueError(
                f"releaser {name!r}: no rule runs kind {kind!r} (kinds the rules run: {', '.join(sorted(kinds))})"
            )
        call: Callable[[], Releaser | None]
        if hasattr(release, "__self__") and hasattr(release, "__func__"):
            call = weakref.WeakMethod(release)
        else:

            def call() -> Releaser:
                return release

        with self._lock:
            self._releasers = [r for r in self._releasers if r.name != name]
            self._releasers.append(_Registered(name, kind, call))

    def unregister(self, name: str) -> bool:
        """Forget a releaser; True if one was registered under ``name``."""
        with self._lock:
            before = len(self._releasers)
            self._releasers = [r for r in self._releasers if r.name != name]
            return len(self._releasers) != before

    def releasers(self, kind: str | None = None) -> list[str]:
        """Names of the live registered releasers (of one kind, or all), in run order."""
        with self._lock:
            return [r.name for r in self._releasers if (kind is None or r.kind == kind) and r.call() is not None]

    # -- measuring and acting -----------------------------------------------------------

    def snapshot(self) -> MemorySnapshot:
        gpu = self._gpu() if self._gpu is not None else None
        return MemorySnapshot(
            rss=int(self._rss()),
            budget=self._budget,
            gpu=None if gpu is None else int(gpu),
            gpu_budget=self.gpu_budget if gpu is not None else None,
            time=self._clock(),
        )

    def check(self) -> list[MemoryEvent]:
        """One evaluation: run the rules that hold (and are off cooldown) until back under target.

        Returns the events of the actions taken, in order (empty when nothing had to be done).
        """
        with self._lock:
            return self._check_locked()

    def _check_locked(self) -> list[MemoryEvent]:
        self._totals.checks += 1
        th = self.thresholds
        snap = self.snapshot()
        critical = {res for res in RESOURCES if (snap.usage(res) or 0.0) > th.critical}
        if critical:
            self._totals.critical += 1
            log.warning(
                "memory.critical", resources=sorted(critical), rss=snap.rss, budget=snap.budget,
                gpu=snap.gpu, gpu_budget=snap.gpu_budget, governor_level=self._level,
            )
        # A resource above the target when the pass starts is released until it is back at or
        # under it; one that was not (rules with low thresholds of their own) is not cut short.
        pressed = {res for res in RESOURCES if (snap.usage(res) or 0.0) > th.target}
        releasing: set[Resource] = set()
        settled: set[Resource] = set()
        taken: list[MemoryEvent] = []
        for rule in self._rules:
            res = rule.resource
            if res in settled:
                continue
            stats = self._totals.rules[rule.name]
            now = self._clock()
            if res in critical:
                if snap.usage(res) is None:
                    continue
            else:
                cooling = stats.last_run is not None and now - stats.last_run < rule.cooldown_s
                if cooling or not rule.holds(snap, th, res in releasing):
                    continue
            actions = self._actions(rule)
            if not actions:
                continue
            stats.runs += 1
            stats.last_run = now
            releasing.add(res)
            for action_name, release in actions:
                event, snap = self._act(rule, action_name, release, snap, th, res in critical)
                taken.append(event)
                stats.actions += 1
                stats.freed += event.freed
                if event.error is not None:
                    stats.errors += 1
                usage = snap.usage(res)
                if res in pressed and usage is not None and usage <= th.target:
                    settled.add(res)
                    break
        return taken

    def _actions(self, rule: Rule) -> list[tuple[str, Releaser]]:
        if not isinstance(rule.action, str):
            return [(rule.action_name, rule.action)]
        found: list[tuple[str, Releaser]] = []
        alive: list[_Registered] = []
        for reg in self._releasers:
            release = reg.call()
            if release is None:
                continue  # its owner is gone
            alive.append(reg)
            if reg.kind == rule.action:
                found.append((reg.name, release))
        self._releasers = alive
        return found

    def _act(
        self, rule: Rule, action: str, release: Releaser, before: MemorySnapshot, th: Thresholds, critical: bool
    ) -> tuple[MemoryEvent, MemorySnapshot]:
        res = rule.resource
        used, limit = before.used(res), before.limit(res)
        wanted = 0 if used is None or limit is None else max(0, used - int(th.target * limit))
        estimate, error = 0, None
        try:
            estimate = int(release(wanted))
        except Exception as exc:  # one bad releaser must not stop the others (or the thread)
            error = f"{type(exc).__name__}: {exc}"
        try:
            self._trim()
        except Exception as exc:
            error = error or f"trim failed: {type(exc).__name__}: {exc}"
        after = self.snapshot()
        event = MemoryEvent(
            rule=rule.name, action=action, resource=res,
            rss_before=before.rss, rss_after=after.rss, gpu_before=before.gpu, gpu_after=after.gpu,
            wanted=wanted, freed_estimate=estimate, budget=after.budget, gpu_budget=after.gpu_budget,
            level=self._level, critical=critical, time=after.time, error=error,
        )
        self._events.append(event)
        fields = asdict(event)
        fields["governor_level"] = fields.pop("level")  # structlog's add_log_level owns the "level" key
        if error is None:
            log.info("memory.action", **fields)
        else:
            log.error("memory.action_failed", **fields)
        return event, after

    # -- history and summary ------------------------------------------------------------

    def events(self) -> list[MemoryEvent]:
        """The most recent actions, oldest first (at most ``history`` of them)."""
        with self._lock:
            return list(self._events)

    def stats(self) -> dict[str, Any]:
        """A JSON-able summary (for ``exocortex status``): budget, usage, level and per-rule counts."""
        snap = self.snapshot()
        th = self.thresholds
        with self._lock:
            totals = self._totals
            rules = {
                name: {"runs": st.runs, "actions": st.actions, "errors": st.errors, "freed": st.freed}
                for name, st in totals.rules.items()
            }
            releasers = [
                {"name": r.name, "kind": r.kind} for r in self._releasers if r.call() is not None
            ]
            checks, critical = totals.checks, totals.critical
        return {
            "budget": snap.budget,
            "rss": snap.rss,
            "fraction": snap.fraction,
            "gpu": snap.gpu,
            "gpu_budget": snap.gpu_budget,
            "gpu_fraction": snap.gpu_fraction,
            "level": self._level,
            "thresholds": {"act": th.act, "target": th.target, "critical": th.critical},
            "checks": checks,
            "critical_checks": critical,
            "actions": sum(r["actions"] for r in rules.values()),
            "rules": rules,
            "releasers": releasers,
            "running": self.running,
        }

    # -- the background thread ----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        """Check every ``interval_s`` seconds on a daemon thread until ``stop()``."""
        if isinstance(interval_s, bool) or not isinstance(interval_s, int | float) or not interval_s > 0:
            raise ValueError(f"interval_s must be a positive number of seconds, got {interval_s!r}")
        if not math.isfinite(interval_s):
            raise ValueError(f"interval_s must be finite, got {interval_s!r}")
        if self.running:
            raise RuntimeError("the memory governor is already running; call stop() first")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(float(interval_s),), name="exocortex-memory-governor", daemon=True
        )
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception as exc:  # e.g. a failing measurement: keep watching
                log.error("memory.check_failed", error=f"{type(exc).__name__}: {exc}")
            self._stop.wait(interval_s)

    def stop(self, timeout_s: float | None = 5.0) -> None:
        """Stop the background thread (waiting for a check in progress); a no-op when not running."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        if thread is None or not thread.is_alive():
            self._thread = None

    def __enter__(self) -> MemoryGovernor:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MemoryGovernor(budget_bytes={self._budget}, level={self._level!r}, rules={len(self._rules)})"


__all__ = [
    "BUDGET_ENV",
    "DEFAULT_BUDGET_FRACTION",
    "GPU_BUDGET_ENV",
    "LEVELS",
    "MemoryEvent",
    "MemoryGovernor",
    "MemorySnapshot",
    "Rule",
    "Thresholds",
    "cache_releaser",
    "default_rules",
    "memory_budget_from_env",
    "parse_memory_budget",
    "process_rss",
    "total_ram",
]
