"""Sample metadata: the store's samples, one per name, and a PED file's families stored beside them.

A PED file (PLINK's ``.ped``/``.fam`` first six columns) says per individual: family, individual,
father, mother (``0`` when not in the file), sex (1 male, 2 female, 0 unknown) and phenotype (2
affected, 1 unaffected, 0 or -9 unknown). Columns are separated by tabs or spaces; lines that are
empty or start with ``#`` are skipped. A line that is not such a row raises ``UsageError`` with its
line number, before anything is written: a half-read pedigree would give wrong inheritance answers.

The ``pedigree`` table holds the rows of the individuals the store has samples of (by name, so it
survives re-ingests and merged files); individuals the store does not know are left out and listed
in the answer's ``unknown`` (the CLI warns with them), the rest is applied. Parents keep their names
even when they were not sequenced. Each ``--ped`` replaces the whole table: a PED is a whole
description of the families, not an increment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from exocortex.errors import InputPathError, UsageError
from exocortex.genomics.schema import PEDIGREE
from exocortex.genomics.store import VariantStore, VariantWriter

SEXES = {"0": 0, "1": 1, "2": 2}
PHENOTYPES = {"-9": 0, "0": 0, "1": 1, "2": 2}
SEX_NAMES = {0: None, 1: "male", 2: "female"}


@dataclass(frozen=True)
class PedRow:
    family: str
    name: str
    father: str | None
    mother: str | None
    sex: int  # 0 unknown, 1 male, 2 female
    phenotype: int  # 0 unknown, 1 unaffected, 2 affected


def parse_ped(path: str | Path) -> list[PedRow]:
    """The rows of a PED file; ``UsageError`` naming the first malformed line, ``InputPathError`` for a bad path."""
    p = Path(path)
    if not p.is_file():
        raise InputPathError(f"--ped {path}: no such file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputPathError(f"--ped {path}: cannot be read ({exc})") from None
    rows: list[PedRow] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split()
        where = f"--ped {path} line {number}"
        if len(cols) < 6:
            raise UsageError(
                f"{where}: {len(cols)} columns, a PED row needs 6 (family, sample, father, mother, sex, phenotype)"
            )
        family, name, father, mother, sex, phenotype = cols[:6]
        if sex not in SEXES:
            raise UsageError(f"{where}: sex {sex!r} is not 1 (male), 2 (female) or 0 (unknown)")
        if phenotype not in PHENOTYPES:
            raise UsageError(f"{where}: phenotype {phenotype!r} is not 2 (affected), 1 (unaffected), 0 or -9 (unknown)")
        if name == "0":
            raise UsageError(f"{where}: the sample id is 0")
        if name in (father, mother):
            raise UsageError(f"{where}: {name} is given as its own parent")
        if father != "0" and father == mother:
            raise UsageError(f"{where}: father and mother are both {father}")
        if name in seen:
            raise UsageError(f"{where}: sample {name} was already described on line {seen[name]}")
        seen[name] = number
        rows.append(
            PedRow(family, name, None if father == "0" else father, None if mother == "0" else mother,
                   SEXES[sex], PHENOTYPES[phenotype])
        )  # fmt: skip
    if not rows:
        raise UsageError(f"--ped {path}: no PED rows in the file")
    return rows


def store_names(store: VariantStore) -> list[str]:
    """Sample names in first-ingested order, each once."""
    samples = store.read("samples", ["sample", "name"]).sort_by("sample")
    return list(dict.fromkeys(samples["name"].to_pylist()))


def save_pedigree(store_dir: str | Path, rows: list[PedRow], lock_wait_s: float = 0.0) -> list[str]:
    """Replace the ``pedigree`` table with the rows of samples the store holds; the names it does not hold."""
    known = set(store_names(VariantStore(store_dir)))
    kept = [r for r in rows if r.name in known]
    unknown = [r.name for r in rows if r.name not in known]
    table = pa.table(
        {
            "family": [r.family for r in kept],
            "name": [r.name for r in kept],
            "father": [r.father for r in kept],
            "mother": [r.mother for r in kept],
            "sex": pa.array([r.sex for r in kept], pa.int8()),
            "phenotype": pa.array([r.phenotype for r in kept], pa.int8()),
        },
        schema=PEDIGREE,
    )
    with VariantWriter(store_dir, lock_wait_s=lock_wait_s) as writer:
        writer.table("pedigree")  # created when absent, so an empty pedigree is still a committed one
        writer.delete("pedigree", "true")
        writer.append("pedigree", table)
        writer.commit()
    return unknown


def read_pedigree(store: VariantStore) -> dict[str, PedRow]:
    """The stored pedigree by sample name (empty when none was given)."""
    if not store.has("pedigree"):
        return {}
    return {
        r["name"]: PedRow(r["family"], r["name"], r["father"], r["mother"], int(r["sex"]), int(r["phenotype"]))
        for r in store.read("pedigree").to_pylist()
    }


@dataclass
class SamplesReport:
    """The store's samples (one per name) with their PED fields, and what a ``--ped`` left out."""

    samples: list[dict[str, Any]]
    unknown: list[str] = field(default_factory=list)
    """Individuals of the PED file that the store has no sample of (not stored)."""
    ped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "unknown": self.unknown, "ped": self.ped}


def list_samples(store_dir: str | Path) -> list[dict[str, Any]]:
    """Per sample name: its ids and source files, and family, father, mother, sex, affected from the pedigree."""
    store = VariantStore(store_dir)
    samples = store.read("samples", ["sample", "name", "source"]).sort_by("sample")
    sources = store.read("sources", ["source", "path"])
    paths = dict(zip(sources["source"].to_pylist(), sources["path"].to_pylist(), strict=True))
    pedigree = read_pedigree(store)
    out: dict[str, dict[str, Any]] = {}
    for sid, name, source in zip(
        samples["sample"].to_pylist(), samples["name"].to_pylist(), samples["source"].to_pylist(), strict=True
    ):
        entry = out.get(name)
        if entry is None:
            ped = pedigree.get(name)
            entry = out[name] = {
                "sample": name,
                "ids": [],
                "files": [],
                "family": ped.family if ped else None,
                "father": ped.father if ped else None,
                "mother": ped.mother if ped else None,
                "sex": SEX_NAMES[ped.sex] if ped else None,
                "affected": {0: None, 1: False, 2: True}[ped.phenotype] if ped else None,
            }
        if sid not in entry["ids"]:
            entry["ids"].append(sid)
        entry["files"].append(paths.get(source, str(source)))
    return list(out.values())


__all__ = ["PedRow", "SamplesReport", "list_samples", "parse_ped", "read_pedigree", "save_pedigree"]
