"""Reproducible large inputs for the genomics benchmark, built once into ``benchmarks/.cache/genomics``.

- ``cohort-10mb.vcf.gz`` / ``cohort-40mb.vcf.gz``: 1,000 diploid samples simulated with msprime
  (coalescent with recombination, population size 10,000, mutation and recombination rates
  1e-8 per base, seeds fixed) over 10 Mb and 40 Mb of chromosome 20, with INFO/AC, AN and AF
  filled by ``bcftools +fill-tags`` and bgzipped.
- ``gvcf-x16.vcf.gz``: the real NA12878 chr20 gVCF (301,778 records) repeated 16 times, each
  copy's positions shifted past the previous copy's end, so the result is a sorted,
  4.8-million-record single-sample file with the real file's record mix. ``gvcf-x1.vcf.gz`` is
  the same construction with one copy, so the two differ only in size (the memory target
  compares them).
- ``sites-40mb.vcf.gz``: the 40 Mb cohort with its genotypes dropped (``bcftools view -G``), a
  sites-only file (130,595 records: small enough that process start-up is a large share).
- ``sites-x16.vcf.gz``: the 16x gVCF with its genotype columns dropped the same way, a
  4.8-million-record sites-only file.

Usage::

    python benchmarks/genomics/data.py            # build what is missing
    python benchmarks/genomics/data.py --force    # rebuild everything
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / ".cache" / "genomics"
SHARED_VCF = Path("/work/shared/data/vcf")
GVCF = SHARED_VCF / "NA12878.prod.chr20snippet.g.vcf.gz"

COHORTS = {"cohort-10mb": 10_000_000, "cohort-40mb": 40_000_000}
GVCF_COPIES = {"gvcf-x1": 1, "gvcf-x16": 16}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"{tool} not found: apt-get install -y bcftools tabix")
    return path


def simulate_cohort(name: str, length: int, out: Path, samples: int = 1000, seed: int = 20261201) -> None:
    import msprime

    t0 = time.perf_counter()
    ts = msprime.sim_ancestry(
        samples=samples,
        ploidy=2,
        sequence_length=length,
        recombination_rate=1e-8,
        population_size=10_000,
        random_seed=seed,
    )
    ts = msprime.sim_mutations(ts, rate=1e-8, random_seed=seed + 1)
    log(
        f"{name}: {ts.num_sites:,} sites, {ts.num_individuals:,} individuals simulated "
        f"in {time.perf_counter() - t0:.0f}s"
    )
    raw = out.with_suffix(".raw.vcf")
    with raw.open("w") as fh:
        # msprime positions are 0-based; VCF wants 1-based (position 0 would be invalid).
        ts.write_vcf(
            fh,
            contig_id="20",
            position_transform=lambda x: [int(p) + 1 for p in x],
            individual_names=[f"SIM{i:04d}" for i in range(ts.num_individuals)],
        )
    bcftools = need("bcftools")
    subprocess.run([bcftools, "+fill-tags", str(raw), "-Oz", "-o", str(out), "--", "-t", "AC,AN,AF"], check=True)
    subprocess.run([bcftools, "index", "-t", str(out)], check=True)
    raw.unlink()
    log(f"{name}: written {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.0f}s")


def reoffset_gvcf(copies: int, out: Path) -> None:
    """``copies`` back-to-back copies of the real gVCF, positions (and INFO/END) shifted per copy."""
    t0 = time.perf_counter()
    header: list[str] = []
    body: list[str] = []
    with gzip.open(GVCF, "rt") as fh:
        for line in fh:
            (header if line.startswith("#") else body).append(line)
    last_end = 0
    for line in body:
        fields = line.split("\t", 8)
        end = int(fields[1]) + len(fields[3]) - 1
        info = fields[7]
        if "END=" in info:
            for item in info.split(";"):
                if item.startswith("END="):
                    end = max(end, int(item[4:]))
        last_end = max(last_end, end)
    span = last_end + 1000
    bgzip = need("bgzip")
    tmp = out.with_suffix(".tmp.vcf")
    with tmp.open("w") as dst:
        dst.writelines(_widen_contig(header, span * copies))
        for copy in range(copies):
            shift = copy * span
            for line in body:
                if shift == 0:
                    dst.write(line)
                    continue
                fields = line.split("\t", 8)
                fields[1] = str(int(fields[1]) + shift)
                if "END=" in fields[7]:
                    fields[7] = ";".join(
                        f"END={int(item[4:]) + shift}" if item.startswith("END=") else item
                        for item in fields[7].split(";")
                    )
                dst.write("\t".join(fields))
    subprocess.run([bgzip, "-f", "-@", "2", str(tmp)], check=True)
    Path(str(tmp) + ".gz").rename(out)
    subprocess.run([need("tabix"), "-f", "-p", "vcf", str(out)], check=True)
    log(f"{out.name}: {copies} copies of {len(body):,} records in {time.perf_counter() - t0:.0f}s")


def _widen_contig(header: list[str], length: int) -> list[str]:
    """The header with chr20's declared length raised to hold every shifted copy."""
    out = []
    for line in header:
        if line.startswith("##contig=<ID=20,") or line.startswith("##contig=<ID=chr20,"):
            ident = line.split("ID=", 1)[1].split(",", 1)[0]
            line = f"##contig=<ID={ident},length={max(length, 64_444_167)}>\n"
        out.append(line)
    return out


def build(force: bool = False) -> dict[str, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, length in COHORTS.items():
        path = CACHE / f"{name}.vcf.gz"
        if force or not path.exists():
            simulate_cohort(name, length, path)
        paths[name] = path
    sites = CACHE / "sites-40mb.vcf.gz"
    if force or not sites.exists():
        subprocess.run([need("bcftools"), "view", "-G", "-Oz", "-o", str(sites), str(paths["cohort-40mb"])], check=True)
    paths["sites-40mb"] = sites
    for name, copies in GVCF_COPIES.items():
        path = CACHE / f"{name}.vcf.gz"
        if force or not path.exists():
            reoffset_gvcf(copies, path)
        paths[name] = path
    big_sites = CACHE / "sites-x16.vcf.gz"
    if force or not big_sites.exists():
        subprocess.run(
            [need("bcftools"), "view", "-G", "-Oz", "-o", str(big_sites), str(paths["gvcf-x16"])], check=True
        )
    paths["sites-x16"] = big_sites
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild every file")
    args = parser.parse_args(argv)
    for name, path in build(args.force).items():
        print(f"{name}\t{path}\t{path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
