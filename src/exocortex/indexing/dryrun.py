"""``index --dry-run``: what a run would index, skip and cost, writing nothing.

Token counts are estimated from a sample: up to ``_SAMPLE_BYTES`` of the
files, spread evenly over the sorted list, are read and counted exactly; the
tokens-per-byte ratio of that sample is applied per language family (code,
markdown, other text). Time is estimated from the measured per-core
throughput in the configuration.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from exocortex.chunking import language_for_path
from exocortex.config import Config
from exocortex.errors import ExocortexError
from exocortex.sources.files import SkippedFile, decode_source, read_source, walk_source_files
from exocortex.store.meta import META_FILE, read_manifest, read_meta
from exocortex.tokens import count_tokens

_SAMPLE_BYTES = 4 * 1024 * 1024
_SAMPLE_MAX_FILES = 400


@dataclass(frozen=True)
class DirectoryEstimate:
    directory: str
    files: int
    bytes: int
    est_tokens: int


@dataclass(frozen=True)
class DryRunReport:
    root: str
    store: str
    files: int
    bytes: int
    est_tokens: int
    est_seconds: float
    tokens_per_byte: float
    directories: list[DirectoryEstimate]
    skipped: dict[str, int]
    skipped_files: list[SkippedFile] = field(repr=False)
    existing_index: bool = False
    would_process: int = 0
    would_remove: int = 0

    def to_dict(self, *, with_skipped_files: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data.pop("skipped_files")
        if with_skipped_files:
            data["skipped_files"] = [asdict(s) for s in self.skipped_files]
        return data


def _family(path: str) -> str:
    language = language_for_path(path)
    if language is None:
        return "text"
    return "markdown" if language == "markdown" else "code"


def dry_run(root: Path, store_dir: Path, config: Config) -> DryRunReport:
    walk = walk_source_files(root, config, exclude_dirs=[store_dir])
    files = walk.files

    # Sample evenly for a tokens-per-byte ratio per family.
    ratios: dict[str, float] = {}
    sample_bytes: Counter[str] = Counter()
    sample_tokens: Counter[str] = Counter()
    if files:
        step = max(1, len(files) // _SAMPLE_MAX_FILES)
        taken = 0
        for f in files[::step]:
            if taken >= _SAMPLE_BYTES:
                break
            read = read_source(root, f.path, config)
            if isinstance(read, SkippedFile):
                continue
            data = read.data
            text, _ = decode_source(data)
            family = _family(f.path)
            sample_bytes[family] += len(data)
            sample_tokens[family] += count_tokens(text, config.tokenizer)
            taken += len(data)
    overall = (sum(sample_tokens.values()) / sum(sample_bytes.values())) if sample_bytes.total() else 0.25
    for family in ("code", "markdown", "text"):
        ratios[family] = sample_tokens[family] / sample_bytes[family] if sample_bytes[family] else overall

    per_dir_files: Counter[str] = Counter()
    per_dir_bytes: Counter[str] = Counter()
    per_dir_tokens: defaultdict[str, float] = defaultdict(float)
    for f in files:
        top = f.path.split("/", 1)[0] if "/" in f.path else "."
        per_dir_files[top] += 1
        per_dir_bytes[top] += f.size
        per_dir_tokens[top] += f.size * ratios[_family(f.path)]
    directories = [
        DirectoryEstimate(d, per_dir_files[d], per_dir_bytes[d], int(per_dir_tokens[d]))
        for d in sorted(per_dir_files, key=lambda d: (-per_dir_bytes[d], d))
    ]
    total_bytes = sum(per_dir_bytes.values())

    known: dict[str, tuple[int, int]] = {}
    existing = (store_dir / META_FILE).exists()
    if existing:
        try:
            manifest = read_manifest(store_dir, read_meta(store_dir))
            if manifest is None:
                from exocortex.store.lance import StoreReader

                manifest = StoreReader(store_dir).read("files", ["path", "size", "mtime_ns"])
            cols = manifest.to_pydict()
            known = {p: (s, m) for p, s, m in zip(cols["path"], cols["size"], cols["mtime_ns"], strict=True)}
        except ExocortexError:
            existing = False  # unreadable index: the real run will say so; estimate a full run
    changed = [f for f in files if known.get(f.path) != (f.size, f.mtime_ns)]
    would_remove = len(set(known) - {f.path for f in files}) if existing else 0

    workers = config.effective_workers()
    est_seconds = sum(f.size for f in changed) / (config.estimate_mb_per_s * 1e6 * workers)
    return DryRunReport(
        root=str(root),
        store=str(store_dir),
        files=len(files),
        bytes=total_bytes,
        est_tokens=int(sum(per_dir_tokens.values())),
        est_seconds=round(est_seconds, 2),
        tokens_per_byte=round(overall, 4),
        directories=directories,
        skipped=dict(sorted(Counter(s.reason for s in walk.skipped).items())),
        skipped_files=walk.skipped,
        existing_index=existing,
        would_process=len(changed),
        would_remove=would_remove,
    )
