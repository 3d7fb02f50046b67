"""What an index run has to do: compare the walk with the manifest.

Stat first: a file whose size and mtime match the manifest is not read at all.
A file whose stat changed is hashed; if its content hash is unchanged only its
manifest row is refreshed ("touched"), otherwise it is re-processed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from exocortex.indexing.process import FileJob, hash_file
from exocortex.sources.files import SourceFile


@dataclass
class Manifest:
    """The manifest columns of the files table, keyed by path."""

    rows: dict[str, tuple[int, int, str, str | None]] = field(default_factory=dict)

    @classmethod
    def from_table(cls, table: pa.Table) -> Manifest:
        cols = table.to_pydict()
        rows = {
            p: (s, m, h, r)
            for p, s, m, h, r in zip(
                cols["path"], cols["size"], cols["mtime_ns"], cols["hash"], cols["skip_reason"], strict=True
            )
        }
        return cls(rows)


@dataclass
class Plan:
    new: list[FileJob] = field(default_factory=list)
    changed: list[FileJob] = field(default_factory=list)
    touched: list[SourceFile] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.new or self.changed or self.touched or self.removed)

    @property
    def jobs(self) -> list[FileJob]:
        return self.new + self.changed

    @property
    def stale_paths(self) -> list[str]:
        """Paths whose rows must go before new rows are written."""
        return self.removed + [job.path for job in self.changed]


def make_plan(files: list[SourceFile], manifest: Manifest, root: str, max_file_bytes: int) -> Plan:
    plan = Plan()
    seen: set[str] = set()
    for f in files:
        seen.add(f.path)
        old = manifest.rows.get(f.path)
        job = FileJob(f.path, f.size, f.mtime_ns)
        if old is None:
            plan.new.append(job)
            continue
        size, mtime_ns, digest, _reason = old
        if size == f.size and mtime_ns == f.mtime_ns:
            plan.unchanged.append(f.path)
            continue
        if size == f.size and hash_file(root, f.path, max_file_bytes) == digest:
            plan.touched.append(f)
        else:
            plan.changed.append(job)
    plan.removed = sorted(set(manifest.rows) - seen)
    return plan
