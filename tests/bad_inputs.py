"""One catalogue of bad inputs for the ``exocortex`` command line, and a runner for it.

Each :class:`Case` says how to build its input in a fresh temporary folder (files, stores, a
lock held by another process), the command (``exocortex`` arguments and environment
variables, or for the memory layer's files a few lines of the Python API), and the exit code
a user should get from the documented table (``exocortex exit-codes``): 0 where the input is
legitimately fine. :func:`run_case` runs one case and records what a user would see: the exit
code (a negative one is a signal: -11 a segfault), stderr's lines, a traceback anywhere, raw
terminal escapes in the output, the wall time, a hang (past the case's time limit); its
:class:`Result` gives the verdict.

A case is ok when the exit code is the expected one; an error says so in one stderr line (a
success writes nothing on stderr unless the case allows a note); no traceback, no signal, no
hang; and, where a case says so, no raw ESC in the output and its own check holds.

Two ways to run a case:

* ``subprocess``: a new Python process running the CLI's entry point (what the ``exocortex``
  console script runs), in its own session, killed with its children past the time limit. The
  faithful way; ``benchmarks/bad_inputs.py`` runs the whole catalogue so for the docs table.
* ``in-process``: ``exocortex.cli.main(argv)`` in this process with stdout and stderr redirected
  at the file-descriptor level (so C libraries' messages are counted too). Used by
  ``tests/test_bad_inputs.py`` for the cases where that is faithful; a case with ``isolate`` set
  (a signal, a possible segfault or hang, environment variables, state set at import) always
  gets its own process.

Inputs that only need reading (an indexed sample repository, an ingested variant store with its
graph) are built once per run by :class:`Shared`; a case that changes a store works on its own
copy. Placeholders in a command: ``{tmp}`` (the case's folder), ``{repo}`` (the shared indexed
repository), ``{own}`` (the case's copy of it, made by :func:`own_index`), ``{vstore}`` (the
shared variant store) and ``{vcf}`` (the shared small VCF file).

This module is not collected by pytest (its name does not start with ``test_``).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import lzma
import os
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .samples import SAMPLE_FILES, write_tree

ESC = "\x1b"
HTSLIB_NOISE = ("[W::", "[E::", "[I::")
OUTPUT_LIMIT = 1 << 20  # bytes of stdout / stderr kept per case

# --------------------------------------------------------------------------- shared inputs

VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=1000000>\n"
    '##FILTER=<ID=q10,Description="Quality below 10">\n'
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">\n'
    '##INFO=<ID=ANN,Number=.,Type=String,Description="Functional annotations: \'Allele | Annotation | '
    "Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | Feature_ID | Transcript_BioType | Rank | HGVS.c | "
    "HGVS.p | cDNA.pos / cDNA.length | CDS.pos / CDS.length | AA.pos / AA.length | Distance | "
    "ERRORS / WARNINGS / INFO'\">\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
)
CHROM_LINE = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB"
VCF_RECORDS = [
    "chr1\t100\trs1\tA\tG\t50\tPASS\tDP=3;AF=0.1;ANN=G|missense_variant|MODERATE|BRCA2|ENSG1|transcript|T1|"
    "protein_coding|1/2|c.1A>G|p.K1E|1/10|1/10|1/3||\tGT\t0|1\t0|0",
    "chr1\t200\trs2\tC\tT\t60\tPASS\tDP=5;AF=0.3;ANN=T|synonymous_variant|LOW|BRCA2|ENSG1|transcript|T1|"
    "protein_coding|1/2|c.2C>T|p.K1K|2/10|2/10|1/3||\tGT\t1|1\t0|1",
    "chr1\t300\t.\tG\tGA\t70\tq10\tDP=7;AF=0.02\tGT\t0|1\t0|0",
    "chr1\t400\trs4\tT\tC,G\t80\tPASS\tDP=9;AF=0.2,0.05\tGT\t1|2\t0|1",
]
GOOD_VCF = VCF_HEADER + CHROM_LINE + "\n" + "\n".join(VCF_RECORDS) + "\n"


def vcf_text(*records: str, multi: bool = True) -> str:
    """The good header, then ten records (several ALTs when ``multi``: the record-by-record path) with
    ``records`` inserted after the fourth."""
    alt = "G,T" if multi else "G"
    lines = [f"chr1\t{1000 + i}\t.\tA\t{alt}\t50\tPASS\tDP=3\tGT\t0|1\t0|0" for i in range(10)]
    lines[4:4] = list(records)
    return VCF_HEADER + CHROM_LINE + "\n" + "\n".join(lines) + "\n"


def index_tree(root: Path, store: Path | None = None) -> None:
    """Index ``root`` through the API (set-up, not under test), in this process."""
    from exocortex import Index

    with _clean_environment({}):
        Index.open(root, store=store, workers=1).update()


class Shared:
    """Read-only inputs built once per run, on first use, under ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._repo: Path | None = None
        self._vstore: Path | None = None
        self._vcf: Path | None = None

    def repo(self) -> Path:
        """The sample repository, indexed into ``<repo>/.exocortex``."""
        if self._repo is None:
            root = self.base / "repo"
            write_tree(root, SAMPLE_FILES)
            index_tree(root)
            self._repo = root
        return self._repo

    def vcf(self) -> Path:
        if self._vcf is None:
            path = self.base / "small.vcf"
            path.write_text(GOOD_VCF)
            self._vcf = path
        return self._vcf

    def vstore(self) -> Path:
        """A variant store holding :data:`GOOD_VCF`, its indexes and its graph."""
        if self._vstore is None:
            from exocortex.genomics.graph import build_graph
            from exocortex.genomics.ingest import ingest_vcf

            store = self.base / "vstore"
            with _clean_environment({}):
                ingest_vcf([self.vcf()], store)
                build_graph(store)
            self._vstore = store
        return self._vstore


# --------------------------------------------------------------------------- cases


@dataclass
class Ctx:
    """What a case's set-up and checks see: its own folder and the shared inputs."""

    tmp: Path
    shared: Shared
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def own(self) -> Path:
        return self.tmp / "own"

    @property
    def own_store(self) -> Path:
        return self.own / ".exocortex"

    def expand(self, text: str) -> str:
        for token, value in (
            ("{tmp}", lambda: self.tmp),
            ("{own}", lambda: self.own),
            ("{repo}", self.shared.repo),
            ("{vstore}", self.shared.vstore),
            ("{vcf}", self.shared.vcf),
        ):
            if token in text:
                text = text.replace(token, str(value()))
        return text


Setup = Callable[[Ctx], None]
Check = Callable[[Ctx, "Result"], "str | None"]


@dataclass(frozen=True)
class Case:
    id: str
    area: str  # index, status, search, pack, config, store, vcf, bench, memory
    description: str  # one line, for the docs table
    argv: tuple[str, ...]  # exocortex's arguments, with placeholders (see the module docstring)
    expected: int
    setup: Setup | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    isolate: str = ""  # why the case needs its own process, or "" when in-process is faithful
    timeout_s: float = 60.0
    stderr_max: int | None = -1  # -1: one line for an error, none for a success; None: not checked
    no_escape: bool = False  # stdout and stderr must carry no raw ESC
    check: Check | None = None
    python: str | None = None  # a Python API case: source run instead of argv (always its own process)
    interrupt: Callable[[Ctx], bool] | None = None  # send interrupt_signal once this holds
    interrupt_signal: int = signal.SIGINT  # SIGINT goes to the process group (Ctrl-C), others to the process
    prelude: str | None = None  # Python run before the CLI in the case's own process (placeholders expanded)

    @property
    def allowed_stderr_lines(self) -> int | None:
        if self.stderr_max is None or self.stderr_max >= 0:
            return self.stderr_max
        return 0 if self.expected == 0 else 1

    def command(self) -> str:
        """The command as a user would type it (placeholders in capitals), for the docs."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        if self.python is not None:
            first = self.description
            return (env + " " if env else "") + f"python: {first}"
        shown = []
        for arg in self.argv:
            for token, name in (("{tmp}/", ""), ("{tmp}", "."), ("{own}", "REPO"), ("{repo}", "REPO"),
                                ("{vstore}", "STORE"), ("{vcf}", "small.vcf")):
                arg = arg.replace(token, name)
            shown.append(_shell_quote(arg))
        return (env + " " if env else "") + "exocortex " + " ".join(shown)


def _shell_quote(arg: str) -> str:
    if len(arg) > 60:  # a huge argument: its start and its length
        return _shell_quote(arg[:24]) + f"...({len(arg):,} characters)"
    if any(ord(c) < 32 or ord(c) == 127 for c in arg):
        return "$'" + arg.encode("unicode_escape").decode("ascii").replace("'", "\\'") + "'"
    return shlex.quote(arg)


CASES: list[Case] = []


def case(
    id: str, area: str, description: str, argv: Sequence[str], expected: int, **kwargs: Any
) -> None:
    if any(c.id == id for c in CASES):
        raise ValueError(f"duplicate case id {id}")
    CASES.append(Case(id, area, description, tuple(argv), expected, **kwargs))


# --------------------------------------------------------------------------- set-up helpers


def chain(*steps: Setup) -> Setup:
    def run(ctx: Ctx) -> None:
        for step in steps:
            step(ctx)

    return run


def write(rel: str, content: str | bytes) -> Setup:
    def run(ctx: Ctx) -> None:
        path = ctx.tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return run


def mkdir(rel: str) -> Setup:
    return lambda ctx: (ctx.tmp / rel).mkdir(parents=True, exist_ok=True)


def symlink(rel: str, target: str) -> Setup:
    return lambda ctx: (ctx.tmp / rel).symlink_to(target)


def tree(rel: str, files: Mapping[str, str | bytes]) -> Setup:
    return lambda ctx: write_tree(ctx.tmp / rel, files)


def indexed_tree(rel: str, files: Mapping[str, str | bytes]) -> Setup:
    def run(ctx: Ctx) -> None:
        write_tree(ctx.tmp / rel, files)
        index_tree(ctx.tmp / rel)

    return run


def _touch(path: Path) -> Path:
    path.touch()
    return path


def own_index(damage: Callable[[Path], None] | None = None) -> Setup:
    """A copy of the shared indexed repository at ``{own}`` (store included), then ``damage(store)``."""

    def run(ctx: Ctx) -> None:
        shutil.copytree(ctx.shared.repo(), ctx.own, symlinks=True)
        # The copy's index is of the copy: otherwise the first answer, which brings the index up to
        # date first, would see a moved root and re-index everything, repairing the damage below.
        meta_file = ctx.own_store / "meta.json"
        meta = json.loads(meta_file.read_text())
        meta["root"] = str(ctx.own.resolve())
        meta_file.write_text(json.dumps(meta))
        if damage is not None:
            damage(ctx.own_store)

    return run


def _meta(store: Path) -> dict[str, Any]:
    return dict(json.loads((store / "meta.json").read_text()))


def _write_meta(store: Path, meta: dict[str, Any]) -> None:
    (store / "meta.json").write_text(json.dumps(meta))


def meta_text(text: str) -> Callable[[Path], None]:
    return lambda store: (store / "meta.json").write_text(text)


def meta_truncated(store: Path) -> None:
    raw = (store / "meta.json").read_bytes()
    (store / "meta.json").write_bytes(raw[: len(raw) // 2])


def meta_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def run(store: Path) -> None:
        meta = _meta(store)
        edit(meta)
        _write_meta(store, meta)

    return run


def _set(*path_and_value: Any) -> Callable[[dict[str, Any]], None]:
    *keys, value = path_and_value

    def edit(meta: dict[str, Any]) -> None:
        node = meta
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value(node[keys[-1]]) if callable(value) else value

    return edit


def replace_by_dir(name: str) -> Callable[[Path], None]:
    def run(store: Path) -> None:
        (store / name).unlink(missing_ok=True)
        (store / name).mkdir()

    return run


def delete_table(table: str) -> Callable[[Path], None]:
    return lambda store: shutil.rmtree(store / _meta(store)["db_dir"] / f"{table}.lance")


def delete_meta_file(key: str) -> Callable[[Path], None]:
    return lambda store: (store / _meta(store)[key]).unlink()


def overwrite_chunk_bytes(store: Path) -> None:
    needle = b"Lower-case and dash-join"
    for data_file in (store / _meta(store)["db_dir"] / "chunks.lance" / "data").iterdir():
        raw = data_file.read_bytes()
        if needle in raw:
            data_file.write_bytes(raw.replace(needle, b"X" * len(needle)))
            return
    raise AssertionError("the chunk text was not found verbatim in the data files")


def damage_search_data(how: str) -> Callable[[Path], None]:
    """Truncate or delete the largest file of the store's search data, or garble its ``done`` marker,
    after a first search built it."""

    def run(store: Path) -> None:
        def built() -> list[Path]:
            """Folders of search data (a commit's, a segment), largest first."""
            if not (store / "search").is_dir():
                return []
            found = [done.parent for done in (store / "search").rglob("done")]
            return sorted(found, key=lambda f: -sum(p.stat().st_size for p in f.rglob("*") if p.is_file()))

        folders = built()
        if not folders:  # the shared repository has not been searched yet: build the data
            _search_in_subprocess(store.parent)
            folders = built()
        folder = folders[0]
        if how == "done":
            (folder / "done").write_text("{")
            return
        if how == "folder-is-a-file":
            shutil.rmtree(store / "search")
            (store / "search").write_text("not a folder")
            return
        victim = max((p for p in folder.rglob("*") if p.is_file() and p.name != "done"),
                     key=lambda p: p.stat().st_size)
        if how == "truncate":
            victim.write_bytes(victim.read_bytes()[:-7])
        else:
            victim.unlink()

    return run


def _search_in_subprocess(root: Path) -> None:
    code = "import sys; from exocortex import Index; Index.open(sys.argv[1]).search('slugify')"
    subprocess.run([sys.executable, "-c", code, str(root)], check=True, capture_output=True, timeout=120,
                   env=_environment({}))


def hold_lock(store_rel: str, *, genomics: bool = False, index_first: bool = False) -> Setup:
    """Another process holds the writer lock of ``{tmp}/<store_rel>`` (of its variant store with
    ``genomics``) for the case's duration."""

    def run(ctx: Ctx) -> None:
        store = ctx.tmp / store_rel
        if genomics:
            code = (
                "import sys, time; from exocortex.genomics.store import VariantWriter\n"
                "with VariantWriter(sys.argv[1]):\n    print('locked', flush=True); time.sleep(120)"
            )
        else:
            code = (
                "import sys, time; from pathlib import Path; from exocortex.store.meta import writer_lock\n"
                "with writer_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(120)"
            )
        holder = subprocess.Popen([sys.executable, "-c", code, str(store)], stdout=subprocess.PIPE, text=True,
                                  env=_environment({}))

        def stop() -> None:
            holder.kill()
            holder.wait()

        ctx.cleanups.append(stop)
        assert holder.stdout is not None
        line = holder.stdout.readline().strip()
        if line != "locked":
            raise RuntimeError(f"the lock holder did not start: {line!r}")

    return run


def hold_lock_as_orphan(ctx: Ctx) -> None:
    """A process holds the flock of ``{own}``'s store while the lock file names a writer that is dead (a worker
    an older version left behind)."""
    code = textwrap.dedent(
        f"""
        import fcntl, os, sys, time
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"{2**22 + 12345} 1", 0)
        print("locked", flush=True)
        time.sleep(120)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(ctx.own_store / "lock")], stdout=subprocess.PIPE,
                              text=True, env=_environment({}))

    def stop() -> None:
        holder.kill()
        holder.wait()

    ctx.cleanups.append(stop)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"


def leftover_rebuild_folder(store: Path) -> None:
    """A rebuild killed before its commit: a second database folder, half written, beside the committed one."""
    committed = store / _meta(store)["db_dir"]
    half = store / "lance-0123456789abcdef"
    shutil.copytree(committed, half)
    shutil.rmtree(half / "symbols.lance")
    for data in (half / "chunks.lance" / "data").iterdir():
        data.write_bytes(data.read_bytes()[:10])


def partly_ingested(ctx: Ctx) -> None:
    """A variant store whose ingest crashed after its first committed batch."""
    from exocortex.genomics.ingest import ingest_vcf

    class Crash(Exception):
        pass

    def crash(batch: int) -> None:
        raise Crash

    path = ctx.tmp / "x.vcf"
    path.write_text(vcf_text(multi=False))
    with contextlib.suppress(Crash):
        ingest_vcf([path], ctx.tmp / "s", batch_size=3, after_commit=crash, build_indexes=False)


def _ingest_text(ctx: Ctx, text: str) -> None:
    from exocortex.genomics.ingest import ingest_vcf

    path = ctx.tmp / "x.vcf"
    path.write_text(text)
    ingest_vcf([path], ctx.tmp / "s", build_indexes=False)


def own_vstore(ctx: Ctx) -> None:
    shutil.copytree(ctx.shared.vstore(), ctx.tmp / "vs", symlinks=True)


def ingested(rel: str) -> Setup:
    """``{tmp}/<rel>`` is a store holding the shared small VCF."""

    def run(ctx: Ctx) -> None:
        shutil.copytree(ctx.shared.vstore(), ctx.tmp / rel, symlinks=True)

    return run


def bgzip(rel: str, text: str) -> Setup:
    def run(ctx: Ctx) -> None:
        import pysam

        plain = ctx.tmp / (rel + ".txt")
        plain.write_text(text)
        pysam.tabix_compress(str(plain), str(ctx.tmp / rel), force=True)
        plain.unlink()

    return run


def bcf(rel: str, cut: int | None = None) -> Setup:
    """The small VCF as BCF (cut to ``cut`` bytes)."""

    def run(ctx: Ctx) -> None:
        from pysam import bcftools

        src = ctx.tmp / (rel + ".src.vcf")
        src.write_text(GOOD_VCF)
        bcftools.view("-Ob", "-o", str(ctx.tmp / rel), str(src), catch_stdout=False)
        src.unlink()
        if cut is not None:
            data = (ctx.tmp / rel).read_bytes()
            (ctx.tmp / rel).write_bytes(data[:cut])

    return run


def lirs(rel: str, keys: Sequence[int | str], *, compress: bool = True) -> Setup:
    body = ("* a comment line\n" + "".join(f"{k}\n" for k in keys)).encode()
    return write(rel, gzip.compress(body) if compress else body)


def oracle(rel: str, records: Sequence[tuple[int, int]], cut: int = 0) -> Setup:
    """An oracleGeneral trace of (key, size) records."""
    data = b"".join(struct.pack("<IQIq", i, key, size, -1) for i, (key, size) in enumerate(records))
    return write(rel, data[: len(data) - cut])


def special_files(ctx: Ctx) -> None:
    """A tree holding a FIFO and a symlink to /dev/zero named like source files (reading either never ends),
    and a file whose name is not UTF-8."""
    root = ctx.tmp / "t"
    write_tree(root, {"a.py": "def fine():\n    return 1\n"})
    os.mkfifo(root / "fifo.py")
    (root / "zero.py").symlink_to("/dev/zero")
    with open(os.fsencode(root) + b"/bad\xffname.py", "w") as fh:
        fh.write("def undecodable():\n    return 1\n")


def deep_tree(ctx: Ctx) -> None:
    """100 nested folders of 50-character names: the deepest file's path is longer than PATH_MAX (4,096), and
    the tree is shallow enough for ``shutil.rmtree`` (recursive) to clean up."""
    root = ctx.tmp / "deep"
    write_tree(root, {"top.py": "x = 1\n"})
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(100):
            os.mkdir("d" * 50, dir_fd=fd)
            inner = os.open("d" * 50, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        leaf = os.open("leaf.py", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"def leaf():\n    return 1\n")
        os.close(leaf)
    finally:
        os.close(fd)


def broken_git(ctx: Ctx) -> None:
    """A git work tree whose HEAD is garbage (git ls-files fails)."""
    root = ctx.tmp / "g"
    write_tree(root, {"a.py": "x = 1\n"})
    subprocess.run(["git", "init", "-q", str(root)], check=True, capture_output=True)
    (root / ".git" / "HEAD").write_text("garbage\n")


def _lock_taken(ctx: Ctx) -> bool:
    lock = ctx.tmp / "big" / ".exocortex" / "lock"
    try:
        return lock.stat().st_size > 0
    except OSError:
        return False


def big_tree(ctx: Ctx) -> None:
    write_tree(ctx.tmp / "big", {f"pkg/m{i}.py": f"def f{i}(x):\n    return x + {i}\n" * 300 for i in range(300)})


# --------------------------------------------------------------------------- checks


def no_line_starts_with(prefix: str) -> Check:
    def check(ctx: Ctx, result: Result) -> str | None:
        bad = [ln for ln in result.stdout.splitlines() if ln.startswith(prefix)]
        return f"a line of stdout starts with {prefix!r}: {bad[0]!r}" if bad else None

    return check


def stdout_has(text: str) -> Check:
    return lambda ctx, result: None if text in result.stdout else f"stdout lacks {text!r}"


def stderr_has(text: str) -> Check:
    return lambda ctx, result: None if text in result.stderr else f"stderr lacks {text!r}"


def stdout_lacks(text: str) -> Check:
    return lambda ctx, result: f"stdout has {text!r}" if text in result.stdout else None


def valid_json(ctx: Ctx, result: Result) -> str | None:
    try:
        json.loads(result.stdout, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    except ValueError as exc:
        return f"stdout is not strict JSON: {exc}"
    return None


def file_kept(rel: str, content: str) -> Check:
    def check(ctx: Ctx, result: Result) -> str | None:
        path = ctx.tmp / rel
        return None if path.is_file() and path.read_text() == content else f"{rel} was changed or removed"

    return check


def no_file(rel: str) -> Check:
    return lambda ctx, result: f"{rel} was written" if (ctx.tmp / rel).exists() else None


# --------------------------------------------------------------------------- the catalogue
# Exit codes: 0 ok, 2 usage, 3 bad path, 4 corrupt store, 5 schema, 6 locked, 7 config, 8 no index,
# 9 nothing to index, 11 budget, 12 no match, 13 not VCF, 14 duplicate, 130 interrupted.

ENV = "environment variables are read once per process"
SEGV = "a bad record could crash htslib/cyvcf2 (a segfault must not take the test run down)"
HANG = "unbounded before the fix: a hang or a huge allocation must be timed out, not wait for ever"

# --- index: paths ---------------------------------------------------------------------------------
case("index-missing-path", "index", "PATH does not exist", ["index", "{tmp}/nope"], 3)
case("index-file-path", "index", "PATH is a file", ["index", "{tmp}/f.txt"], 3, setup=write("f.txt", "x"))
case("index-symlink-loop", "index", "PATH is a symlink loop", ["index", "{tmp}/a"], 3,
     setup=chain(symlink("a", "b"), symlink("b", "a")))
case("index-dangling-symlink", "index", "PATH is a symlink to nothing", ["index", "{tmp}/a"], 3,
     setup=symlink("a", "missing"))
case("index-empty-dir", "index", "PATH is an empty folder", ["index", "{tmp}/e"], 9, setup=mkdir("e"))
case("index-only-binaries", "index", "PATH holds only binary files", ["index", "{tmp}/b"], 9,
     setup=tree("b", {"x.dat": b"abc\x00def" * 10, "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(64)}))
case("index-empty-string", "index", "PATH is the empty string", ["index", ""], 3,
     setup=tree(".", {"here.py": "x = 1\n"}), check=no_file(".exocortex"))
case("index-dry-run-missing", "index", "--dry-run on a missing PATH", ["index", "{tmp}/nope", "--dry-run"], 3)
case("index-path-with-escapes", "index", "a missing PATH whose name holds terminal escapes",
     ["index", "{tmp}/evil\x1b[2J\x1b]0;pwned\x07dir"], 3, no_escape=True)
case("index-escape-filename-verbose", "index", "--verbose lists a skipped binary whose name holds terminal escapes",
     ["index", "{tmp}/esc", "--verbose"], 0, no_escape=True,
     setup=tree("esc", {"a.py": "x = 1\n", "evil\x1b[31m\x1b]0;pwned\x07.png": b"\x89PNG\r\n\x1a\n" + bytes(64)}))
case("index-escape-filename-dry-run", "index", "--dry-run --verbose with a file name holding terminal escapes",
     ["index", "{tmp}/esc", "--dry-run", "--verbose"], 0, no_escape=True,
     setup=tree("esc", {"a.py": "x = 1\n", "evil\x1b[31m\x1b]0;pwned\x07.png": b"\x89PNG\r\n\x1a\n" + bytes(64)}))
case("index-special-files", "index", "a tree with a FIFO, a symlink to /dev/zero and a name that is not UTF-8",
     ["index", "{tmp}/t", "--verbose"], 0, setup=special_files, isolate=HANG, no_escape=True)
case("index-deep-tree", "index", "a tree 100 folders deep (a path past PATH_MAX)", ["index", "{tmp}/deep"], 0,
     setup=deep_tree)
case("index-one-huge-line", "index", "a 1.9 MB source file on one line", ["index", "{tmp}/t"], 0,
     setup=tree("t", {"line.py": "x = 1; " * 270_000}), isolate=HANG)
case("index-sparse-1gib", "index", "a sparse 1 GiB file (skipped by its size, never read)", ["index", "{tmp}/t"], 0,
     setup=chain(tree("t", {"a.py": "x = 1\n"}), lambda ctx: os.truncate(_touch(ctx.tmp / "t" / "huge.log"), 1 << 30)))
case("index-bad-gitignore", "index", "a .gitignore with malformed patterns", ["index", "{tmp}/t"], 0,
     setup=tree("t", {"a.py": "x = 1\n", ".gitignore": "[z-a]\n\\\n!\n[\n"}))
case("index-git-file-dangling", "index", "a .git file pointing nowhere", ["index", "{tmp}/t"], 0,
     setup=tree("t", {"a.py": "x = 1\n", ".git": "gitdir: /nonexistent/x\n"}))
case("index-git-broken-head", "index", "a git work tree whose HEAD is garbage", ["index", "{tmp}/g"], 0,
     setup=broken_git)
case("index-too-many-args", "index", "two PATHs", ["index", "{tmp}", "{tmp}"], 2)
case("index-unknown-option", "index", "an unknown option", ["index", "{tmp}", "--bogus"], 2)
case("index-ok", "index", "a healthy re-index (no change)", ["index", "{own}"], 0, setup=own_index())
case("index-ok-empty-store-dir", "index", "--store an existing empty folder", ["index", "{own}", "--store",
     "{tmp}/empty"], 0, setup=chain(own_index(), mkdir("empty")))
case("index-ok-store-new-parents", "index", "--store a folder whose parents do not exist yet",
     ["index", "{own}", "--store", "{tmp}/a/b/c"], 0, setup=own_index())

# --- index: options ----------------------------------------------------------------------------------
for value, code in (("nan", 7), ("inf", 7), ("-inf", 7), ("1e400", 7), ("0", 7), ("-1", 7), ("abc", 7),
                    ("", 7), ("0.1", 7), ("1e30g", 7), ("9223372036854775807", 7), ("8EiB", 7), ("2MiB", 0)):
    case(f"index-max-file-size-{value[:12] or 'empty'}", "index", f"--max-file-size {value!r}",
         ["index", "{own}", "--max-file-size", value], code, setup=own_index())
for value, code in (("-3", 7), ("100000", 7), ("abc", 2), ("1.5", 2), ("0", 0)):
    case(f"index-workers-{value}", "index", f"--workers {value}", ["index", "{own}", "--workers", value], code,
         setup=own_index())
for value, code in (("nan", 7), ("inf", 7), ("-1", 7), ("abc", 2), ("1e400", 7)):
    case(f"index-wait-{value}", "index", f"--wait {value}", ["index", "{own}", "--wait", value], code,
         setup=own_index())
case("index-locked", "index", "a second writer while another process holds the lock", ["index", "{own}"], 6,
     setup=chain(own_index(), hold_lock("own/.exocortex")),
     check=lambda ctx, r: "the lock message shows 'pid ?'" if "pid ?" in r.stderr else None)
case("index-locked-wait", "index", "a second writer with --wait 0.5", ["index", "{own}", "--wait", "0.5"], 6,
     setup=chain(own_index(), hold_lock("own/.exocortex")))
case("index-sigint", "index", "Ctrl-C (SIGINT to the process group) during an index run", ["index", "{tmp}/big"],
     130, setup=big_tree, interrupt=_lock_taken, isolate="a signal", timeout_s=120)
case("index-sigterm", "index", "SIGTERM to the process during an index run", ["index", "{tmp}/big"], 143,
     setup=big_tree, interrupt=_lock_taken, interrupt_signal=signal.SIGTERM, isolate="a signal", timeout_s=120)
case("index-rebuild-sigint", "index", "Ctrl-C during index --rebuild",
     ["index", "{tmp}/big", "--rebuild"], 130, setup=chain(big_tree, lambda ctx: index_tree(ctx.tmp / "big")),
     interrupt=_lock_taken, isolate="a signal", timeout_s=120)

# --- status ----------------------------------------------------------------------------------------
case("status-missing-path", "status", "PATH does not exist", ["status", "{tmp}/nope"], 3)
case("status-file-path", "status", "PATH is a file", ["status", "{tmp}/f"], 3, setup=write("f", "x"))
case("status-no-index", "status", "PATH was never indexed", ["status", "{tmp}/r"], 8, setup=tree("r", {"a.py": "x\n"}))
case("status-ok", "status", "a healthy index", ["status", "{repo}"], 0)
case("status-ok-json", "status", "a healthy index, --json", ["status", "{repo}", "--json", "--verbose"], 0,
     check=valid_json)
case("status-store-missing", "status", "--store a folder that does not exist", ["status", "{repo}", "--store",
     "{tmp}/nope"], 8)
case("status-escape-filename-verbose", "status", "--verbose lists a text file whose name holds terminal escapes",
     ["status", "{tmp}/esc", "--verbose"], 0, no_escape=True,
     setup=indexed_tree("esc", {"a.py": "x = 1\n", "evil\x1b[31mred\x1b]0;pwned\x07.txt": "some text\n"}))
case("status-unknown-option", "status", "an unknown option", ["status", "--bogus"], 2)

# --- search ----------------------------------------------------------------------------------------
case("search-no-index", "search", "-C a folder that was never indexed", ["search", "x", "-C", "{tmp}/r"], 8,
     setup=tree("r", {"a.py": "x\n"}))
case("search-missing-path", "search", "-C a missing folder", ["search", "x", "-C", "{tmp}/nope"], 3)
case("search-empty-query", "search", "an empty query", ["search", "", "-C", "{repo}"], 12)
case("search-blank-query", "search", "a query of spaces", ["search", "   ", "-C", "{repo}"], 12)
case("search-punctuation-query", "search", "a query with no word in it", ["search", "?!.,;", "-C", "{repo}"], 12)
case("search-no-match", "search", "nothing matches", ["search", "zzzqqq_nothing_like_this", "-C", "{repo}"], 12)
case("search-escape-query", "search", "a query of terminal escapes, nothing matches",
     ["search", "\x1b[31m\x1b]0;x\x07", "-C", "{repo}"], 12, no_escape=True)
case("search-missing-query", "search", "no QUERY", ["search", "-C", "{repo}"], 2)
for value, code in (("-1", 2), ("0", 2), ("abc", 2), ("1e3", 2), ("99999999999999999999999", 0), ("1000", 0)):
    case(f"search-k-{value[:12]}", "search", f"-k {value}", ["search", "slugify", "-k", value, "-C", "{repo}"], code)
case("search-ok-json", "search", "a healthy search, --json", ["search", "slugify", "--json", "-C", "{repo}"], 0,
     check=valid_json)
case("search-huge-query", "search", "a 100 kB query, over max_query_bytes (1,000 here)",
     ["search", "slugify " * 12_500, "-C", "{repo}"], 2, env={"EXOCORTEX_MAX_QUERY_BYTES": "1000"}, isolate=ENV)
case("search-long-query-ok", "search", "a 100 kB query", ["search", "slugify user " * 8000, "-C", "{repo}"], 0)
case("search-escape-filename", "search", "a file name with terminal escape sequences (table output)",
     ["search", "evil_func", "-C", "{tmp}/esc"], 0, no_escape=True,
     setup=indexed_tree("esc", {"evil\x1b[31mred\x1b]0;pwned\x07.py": "def evil_func():\n    return 1\n"}))
case("search-escape-heading", "search", "a markdown heading with terminal escapes (the symbol column)",
     ["search", "Title", "-C", "{tmp}/md"], 0, no_escape=True,
     setup=indexed_tree("md", {"doc.md": "# Title \x1b[2J\x1b]0;pwned\x07 here\n\nSome text.\n"}))
case("search-newline-filename", "search", "a file name with a newline (table output)",
     ["search", "newline_func", "-C", "{tmp}/nl"], 0, check=no_line_starts_with("# injected"),
     setup=indexed_tree("nl", {"a\n# injected.py": "def newline_func():\n    return 1\n"}))

# --- pack --------------------------------------------------------------------------------------------
case("pack-no-query", "pack", "no QUERY and no --query-file", ["pack", "-C", "{repo}"], 12)
case("pack-empty-query", "pack", "an empty QUERY", ["pack", "", "-C", "{repo}"], 12)
case("pack-no-match", "pack", "nothing matches", ["pack", "zzzqqq_nothing_like_this", "-C", "{repo}"], 12)
case("pack-no-index", "pack", "-C a folder that was never indexed", ["pack", "x", "-C", "{tmp}/r"], 8,
     setup=tree("r", {"a.py": "x\n"}))
for value, code in (("0", 7), ("-5", 7), ("abc", 7), ("1e400", 7), ("nan", 7), ("inf", 7), ("", 7), ("5", 11),
                    ("1e30", 7), ("10m", 0)):
    case(f"pack-budget-{value or 'empty'}", "pack", f"--budget {value!r}",
         ["pack", "slugify", "--budget", value, "-C", "{repo}"], code)
case("pack-bad-tokenizer", "pack", "an unknown --tokenizer", ["pack", "slugify", "--tokenizer", "gpt2",
     "-C", "{repo}"], 7)
case("pack-bad-format", "pack", "an unknown --format", ["pack", "slugify", "--format", "yaml", "-C", "{repo}"], 7)
case("pack-out-directory", "pack", "--out an existing folder", ["pack", "slugify", "--out", "{tmp}/d",
     "-C", "{repo}"], 3, setup=mkdir("d"))
case("pack-out-missing-folder", "pack", "--out a file in a missing folder",
     ["pack", "slugify", "--out", "{tmp}/no/such/ctx.md", "-C", "{repo}"], 3)
case("pack-out-dev-null", "pack", "--out /dev/null", ["pack", "slugify", "--out", "/dev/null", "-C", "{repo}"], 0,
     stderr_max=1)
case("pack-query-file-missing", "pack", "--query-file a missing file",
     ["pack", "--query-file", "{tmp}/nope.txt", "-C", "{repo}"], 3)
case("pack-query-file-directory", "pack", "--query-file a folder", ["pack", "--query-file", "{tmp}",
     "-C", "{repo}"], 3)
case("pack-query-file-empty", "pack", "--query-file an empty file", ["pack", "--query-file", "{tmp}/q.txt",
     "-C", "{repo}"], 12, setup=write("q.txt", ""))
case("pack-query-file-binary", "pack", "--query-file holding bytes that are not UTF-8",
     ["pack", "--query-file", "{tmp}/q.bin", "-C", "{repo}"], 3, setup=write("q.bin", bytes(range(256)) * 4))
case("pack-query-file-dev-zero", "pack", "--query-file /dev/zero (endless)",
     ["pack", "--query-file", "/dev/zero", "-C", "{repo}"], 3, isolate=HANG, timeout_s=60)
case("pack-query-file-stdin-empty", "pack", "--query-file - with nothing on standard input",
     ["pack", "--query-file", "-", "-C", "{repo}"], 12, isolate="reads standard input")
case("pack-query-file-huge", "pack", "--query-file of 3 MB (over max_query_bytes)",
     ["pack", "--query-file", "{tmp}/q.txt", "-C", "{repo}"], 2, setup=write("q.txt", "slugify text\n" * 250_000))
case("pack-newline-filename", "pack", "a file name with a newline (markdown headings)",
     ["pack", "newline_func", "-C", "{tmp}/nl"], 0, check=no_line_starts_with("# injected"),
     setup=indexed_tree("nl", {"a\n# injected.py": "def newline_func():\n    return 1\n"}))
case("pack-escape-filename-xml", "pack", "a file name with terminal escapes, --format xml",
     ["pack", "evil_func", "--format", "xml", "-C", "{tmp}/esc"], 0, no_escape=True,
     setup=indexed_tree("esc", {"evil\x1b[31mred.py": "def evil_func():\n    return 1\n"}))
case("pack-ok-json", "pack", "a healthy pack, --format json", ["pack", "slugify", "--format", "json",
     "--budget", "1k", "-C", "{repo}"], 0, check=valid_json)

# --- store ----------------------------------------------------------------------------------------------
for cmd, argv in (("index", ["index", "{repo}"]), ("status", ["status", "{repo}"]),
                  ("search", ["search", "slugify", "-C", "{repo}"])):
    case(f"store-is-a-file-{cmd}", "store", f"{cmd} --store a file", [*argv, "--store", "{tmp}/f"], 3,
         setup=write("f", "not a store"), check=file_kept("f", "not a store"))
    case(f"store-dev-null-{cmd}", "store", f"{cmd} --store /dev/null", [*argv, "--store", "/dev/null"], 3)
case("store-foreign-dir-index", "store", "index --store a non-empty folder that is not a store",
     ["index", "{repo}", "--store", "{tmp}/d"], 3, setup=write("d/lance/mydb.lance/data.txt", "precious"),
     check=file_kept("d/lance/mydb.lance/data.txt", "precious"))
case("store-foreign-dir-rebuild", "store", "index --rebuild --store a non-empty folder that is not a store",
     ["index", "{repo}", "--rebuild", "--store", "{tmp}/d"], 3, setup=write("d/data.txt", "precious"),
     check=file_kept("d/data.txt", "precious"))
case("store-foreign-dir-status", "store", "status --store a non-empty folder that is not a store",
     ["status", "{repo}", "--store", "{tmp}/d"], 8, setup=write("d/data.txt", "precious"))
case("store-symlink-loop", "store", "--store a symlink loop", ["index", "{repo}", "--store", "{tmp}/a"], 3,
     setup=chain(symlink("a", "b"), symlink("b", "a")))
case("store-under-a-file", "store", "--store a path under a file", ["index", "{repo}", "--store", "{tmp}/f/s"], 3,
     setup=write("f", "x"))
_READ_ONLY_PRELUDE = """
import os
_real_access, _ro = os.access, os.path.realpath("{own}/.exocortex")
def _access(path, mode, *a, **k):  # a read-only mount, as root sees it (root ignores permission bits)
    if os.path.realpath(path) == _ro and mode & os.W_OK:
        return False
    return _real_access(path, mode, *a, **k)
os.access = _access
"""


def _read_only_store(ctx: Ctx) -> None:
    own_index()(ctx)
    (ctx.own / "new.py").write_text("x = 1\n")
    for path in [ctx.own_store, *ctx.own_store.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    ctx.cleanups.append(lambda: [p.chmod(0o755) for p in [ctx.own_store, *ctx.own_store.rglob("*")] if p.is_dir()])


_UNREADABLE_PRELUDE = _READ_ONLY_PRELUDE.replace("os.W_OK:", "(os.R_OK | os.X_OK):").replace("read-only mount",
                                                                                            "unreadable folder")
case("store-unreadable", "store", "status on a store it may not read", ["status", "{own}"], 3, setup=own_index(),
     prelude=_UNREADABLE_PRELUDE, isolate="an unreadable folder is emulated in the process (root reads anything)")
case("store-read-only", "store", "index into a read-only store", ["index", "{own}"], 3, setup=_read_only_store,
     prelude=_READ_ONLY_PRELUDE, isolate="a read-only mount is emulated in the process (root ignores modes)")

for damage, make, code in (
    ("meta-garbage", meta_text("{not json"), 4),
    ("meta-truncated", meta_truncated, 4),
    ("meta-empty", meta_text(""), 4),
    ("meta-list", meta_text("[]"), 4),
    ("meta-no-fields", meta_text("{}"), 4),
    ("meta-binary", meta_text("\x00\x01\x02\xff"), 4),
    ("meta-is-a-dir", replace_by_dir("meta.json"), 4),
    ("schema-bumped", meta_edit(_set("schema_version", 999)), 5),
    ("schema-old", meta_edit(_set("schema_version", 1)), 5),
    ("schema-not-a-number", meta_edit(_set("schema_version", "four")), 5),
    ("table-version-bumped", meta_edit(_set("tables", "chunks", lambda v: v + 5)), 4),
    ("table-version-negative", meta_edit(_set("tables", "chunks", -1)), 4),
    ("table-deleted", delete_table("symbols"), 4),
    ("count-not-a-number", meta_edit(_set("last_run", "summary", "files", "many")), 4),
    ("db-dir-outside", meta_edit(_set("db_dir", "../../..")), 4),
    ("db-dir-missing", meta_edit(_set("db_dir", "lance-0000")), 4),
    ("manifest-deleted", delete_meta_file("manifest"), 0),  # a sidecar: the files table stands in for it
):
    commands: list[tuple[str, list[str]]] = [("status", ["status", "{own}"]), ("search", ["search", "slugify",
                                             "-C", "{own}"])]
    if damage in ("meta-garbage", "meta-is-a-dir", "schema-bumped", "table-version-bumped", "table-deleted",
                  "count-not-a-number", "manifest-deleted", "db-dir-outside"):
        commands.append(("index", ["index", "{own}"]))
    if damage in ("meta-garbage", "schema-bumped", "table-deleted"):
        commands.append(("pack", ["pack", "slugify", "-C", "{own}"]))
    for cmd, argv in commands:
        case(f"store-{damage}-{cmd}", "store", f"{cmd} on a store whose {damage.replace('-', ' ')}", argv, code,
             setup=own_index(make))
case("store-meta-garbage-rebuild", "store", "index --rebuild on a store whose meta.json is garbage",
     ["index", "{own}", "--rebuild"], 0, setup=own_index(meta_text("{not json")))
case("store-schema-bumped-rebuild", "store", "index --rebuild on a store of another schema version",
     ["index", "{own}", "--rebuild"], 0, setup=own_index(meta_edit(_set("schema_version", 999))))
case("store-meta-is-a-dir-rebuild", "store", "index --rebuild on a store whose meta.json is a folder",
     ["index", "{own}", "--rebuild"], 4, setup=own_index(replace_by_dir("meta.json")))
case("store-lock-is-a-dir-index", "store", "index on a store whose lock file is a folder", ["index", "{own}"], 4,
     setup=own_index(replace_by_dir("lock")))
case("store-lock-is-a-dir-search", "store", "search on a store whose lock file is a folder: answered from the "
     "last commit, with a warning that it could not be brought up to date",
     ["search", "slugify", "-C", "{own}"], 0, setup=own_index(replace_by_dir("lock")), stderr_max=1)
case("store-lock-garbage", "store", "index on a store whose lock file holds garbage", ["index", "{own}"], 0,
     setup=own_index(lambda store: (store / "lock").write_text("garbage \x00 pid")))
case("store-lock-orphan-holder", "store", "index while an orphan of a dead writer holds the lock",
     ["index", "{own}"], 0, setup=chain(own_index(), hold_lock_as_orphan), stderr_max=None)
case("store-leftover-rebuild-search", "store", "search beside the half-written folder of a killed rebuild",
     ["search", "slugify", "-C", "{own}"], 0, setup=own_index(leftover_rebuild_folder))
case("store-leftover-rebuild-index", "store", "index beside the half-written folder of a killed rebuild",
     ["index", "{own}"], 0, setup=own_index(leftover_rebuild_folder))
case("store-lock-dead-pid", "store", "index on a store whose lock names a dead writer", ["index", "{own}"], 0,
     setup=own_index(lambda store: (store / "lock").write_text(f"{2**22 + 12345} 1")))
case("store-chunk-bytes-overwritten", "store", "pack on a store whose chunk data bytes were overwritten",
     ["pack", "how is a slug made: slugify", "-C", "{own}"], 4, setup=own_index(overwrite_chunk_bytes))
for how in ("truncate", "delete", "done", "folder-is-a-file"):
    case(f"store-search-data-{how}", "store", f"search after the store's search data was damaged ({how})",
         ["search", "slugify", "-C", "{own}"], 0, setup=own_index(damage_search_data(how)),
         stderr_max=1)  # a warning log line: the data is built again

# --- config: files and environment ------------------------------------------------------------------
for name, toml, code in (
    ("toml-invalid", "max_file_bytes = = 3\n", 7),
    ("toml-unknown-key", "no_such_setting = 1\n", 7),
    ("toml-wrong-type", "max_file_bytes = 'big'\n", 7),
    ("toml-bool-for-int", "workers = true\n", 7),
    ("toml-float-for-int", "workers = 2.5\n", 7),
    ("toml-negative", "max_chunk_lines = -1\n", 7),
    ("toml-nan", "fusion_k = nan\n", 7),
    ("toml-inf", "bm25_k1 = inf\n", 7),
    ("toml-int-max", "max_file_bytes = 9223372036854775807\n", 7),
    ("toml-too-big", "pagerank_steps = 1000000000\n", 7),
    ("toml-array-for-scalar", "max_file_bytes = [1, 2]\n", 7),
    ("toml-table-for-scalar", "[max_file_bytes]\nx = 1\n", 7),
    ("toml-bad-tokenizer", "tokenizer = 'gpt2'\n", 7),
    ("toml-ignore-file-path", "extra_ignore_files = ['../x']\n", 7),
    ("toml-binary", "\x00\x01\x02", 7),
):
    case(f"config-{name}", "config", f".exocortex.toml: {toml.strip()!r}", ["index", "{tmp}/r"], code,
         setup=tree("r", {"a.py": "x = 1\n", ".exocortex.toml": toml}))
case("config-pyproject-invalid", "config", "pyproject.toml is not TOML", ["index", "{tmp}/r"], 7,
     setup=tree("r", {"a.py": "x = 1\n", "pyproject.toml": "[tool.exocortex\n"}))
case("config-pyproject-unknown-key", "config", "[tool.exocortex] with an unknown key", ["index", "{tmp}/r"], 7,
     setup=tree("r", {"a.py": "x = 1\n", "pyproject.toml": "[tool.exocortex]\nbogus = 1\n"}))
case("config-pyproject-bad-value", "config", "[tool.exocortex] with a negative weight", ["index", "{tmp}/r"], 7,
     setup=tree("r", {"a.py": "x = 1\n", "pyproject.toml": "[tool.exocortex]\nweight_bm25 = -1\n"}))
case("config-pyproject-not-a-table", "config", "tool.exocortex is a string", ["index", "{tmp}/r"], 7,
     setup=tree("r", {"a.py": "x = 1\n", "pyproject.toml": "[tool]\nexocortex = 'yes'\n"}))
case("config-toml-is-a-dir", "config", ".exocortex.toml is a folder", ["index", "{tmp}/r"], 0,
     setup=tree("r", {"a.py": "x = 1\n", ".exocortex.toml/x.txt": "hello\n"}))

_ENV_CASES: list[tuple[str, str, str, list[str], int]] = [
    # (id, variable, value, command, expected)
    ("lock-wait-nan", "EXOCORTEX_LOCK_WAIT_S", "nan", ["index", "{own}"], 7),
    ("lock-wait-negative", "EXOCORTEX_LOCK_WAIT_S", "-1", ["index", "{own}"], 7),
    ("workers-negative", "EXOCORTEX_WORKERS", "-3", ["index", "{own}"], 7),
    ("workers-word", "EXOCORTEX_WORKERS", "many", ["index", "{own}"], 7),
    ("max-file-bytes-word", "EXOCORTEX_MAX_FILE_BYTES", "abc", ["index", "{own}"], 7),
    ("max-file-bytes-zero", "EXOCORTEX_MAX_FILE_BYTES", "0", ["index", "{own}"], 7),
    ("tokenizer", "EXOCORTEX_TOKENIZER", "gpt2", ["pack", "slugify", "-C", "{repo}"], 7),
    ("index-tokenizers", "EXOCORTEX_INDEX_TOKENIZERS", "gpt2", ["index", "{own}"], 7),
    ("index-tokenizers-empty", "EXOCORTEX_INDEX_TOKENIZERS", ",", ["index", "{own}"], 7),
    ("use-default-ignores", "EXOCORTEX_USE_DEFAULT_IGNORES", "maybe", ["index", "{own}"], 7),
    ("fusion-k-nan-json", "EXOCORTEX_FUSION_K", "nan", ["search", "slugify", "--json", "-C", "{repo}"], 7),
    ("fusion-k-zero", "EXOCORTEX_FUSION_K", "0", ["search", "slugify", "-C", "{repo}"], 7),
    ("weight-bm25-nan", "EXOCORTEX_WEIGHT_BM25", "nan", ["search", "slugify", "-C", "{repo}"], 7),
    ("weight-pagerank-negative", "EXOCORTEX_WEIGHT_PAGERANK", "-1", ["search", "slugify", "-C", "{repo}"], 7),
    ("bm25-k1-inf", "EXOCORTEX_BM25_K1", "inf", ["search", "slugify", "-C", "{repo}"], 7),
    ("bm25-b-above-one", "EXOCORTEX_BM25_B", "2", ["search", "slugify", "-C", "{repo}"], 7),
    ("pagerank-damping-one", "EXOCORTEX_PAGERANK_DAMPING", "1", ["search", "slugify", "-C", "{repo}"], 7),
    ("search-k-zero", "EXOCORTEX_SEARCH_K", "0", ["search", "slugify", "-C", "{repo}"], 7),
    ("search-candidates-word", "EXOCORTEX_SEARCH_CANDIDATES", "abc", ["search", "slugify", "-C", "{repo}"], 7),
    ("prior-tests-inf", "EXOCORTEX_PRIOR_TESTS", "inf", ["search", "slugify", "-C", "{repo}"], 7),
    ("pack-share-above-one", "EXOCORTEX_PACK_WHOLE_FILE_SHARE", "2", ["pack", "slugify", "-C", "{repo}"], 7),
    ("pack-snapshot-negative", "EXOCORTEX_PACK_SNAPSHOT_MAX_BYTES", "-1", ["pack", "slugify", "-C", "{repo}"], 7),
    ("max-query-bytes-zero", "EXOCORTEX_MAX_QUERY_BYTES", "0", ["search", "slugify", "-C", "{repo}"], 7),
    ("graph-timeout-nan", "EXOCORTEX_GRAPH_QUERY_TIMEOUT_S", "nan", ["vcf", "graph", "MATCH (g:Gene) RETURN g.symbol",
                                                                     "--store", "{vstore}"], 7),
    ("graph-memory-tiny", "EXOCORTEX_GRAPH_QUERY_MEMORY_BYTES", "1", ["vcf", "graph", "MATCH (g:Gene) RETURN g.symbol",
                                                                      "--store", "{vstore}"], 7),
    ("graph-max-rows-negative", "EXOCORTEX_GRAPH_MAX_ROWS", "-1", ["vcf", "graph", "MATCH (g:Gene) RETURN g.symbol",
                                                                   "--store", "{vstore}"], 7),
    ("store-is-a-file", "EXOCORTEX_STORE", "{tmp}/f", ["status", "{repo}"], 3),
    ("debug-empty", "EXOCORTEX_DEBUG", "", ["status", "{repo}"], 0),
]
for cid, variable, value, argv, code in _ENV_CASES:
    setup: Setup | None = own_index() if "{own}" in " ".join(argv) else None
    if variable == "EXOCORTEX_STORE":
        setup = write("f", "not a store")
    case(f"config-env-{cid}", "config", f"{variable}={value!r}", argv, code, env={variable: value}, isolate=ENV,
         setup=setup)

# --- memory: settings, the governor, the disk level ---------------------------------------------------
for cid, variable, value, code in (
    ("budget-word", "EXOCORTEX_MEMORY_BUDGET", "lots", 7),
    ("budget-zero", "EXOCORTEX_MEMORY_BUDGET", "0", 7),
    ("budget-negative", "EXOCORTEX_MEMORY_BUDGET", "-1", 7),
    ("budget-share-over-100", "EXOCORTEX_MEMORY_BUDGET", "150%", 7),
    ("budget-nan", "EXOCORTEX_MEMORY_BUDGET", "nan", 7),
    ("budget-1e400", "EXOCORTEX_MEMORY_BUDGET", "1e400", 7),
    ("budget-unknown-unit", "EXOCORTEX_MEMORY_BUDGET", "4 parsecs", 7),
    ("budget-ok", "EXOCORTEX_MEMORY_BUDGET", "4GiB", 0),
    ("level-unknown", "EXOCORTEX_MEMORY_LEVEL", "extreme", 7),
    ("l1-entries-negative", "EXOCORTEX_QUERY_CACHE_L1_ENTRIES", "-1", 7),
    ("l2-bytes-word", "EXOCORTEX_QUERY_CACHE_L2_BYTES", "big", 7),
    ("parsed-cache-negative", "EXOCORTEX_PARSED_CACHE_BYTES", "-1", 7),
):
    argv = ["index", "{own}"] if "PARSED" in variable else ["search", "slugify", "-C", "{repo}"]
    case(f"memory-{cid}", "memory", f"{variable}={value!r}", argv, code, env={variable: value}, isolate=ENV,
         setup=own_index() if "{own}" in argv else None)
case("memory-status-budget-word", "memory", "status with EXOCORTEX_MEMORY_BUDGET='lots'", ["status", "{repo}"], 7,
     env={"EXOCORTEX_MEMORY_BUDGET": "lots"}, isolate=ENV)

_DISK_ENTRY = """
from exocortex.memory.cache import Record
from exocortex.memory.disk import DiskLevel, encode_key, key_digest
root = "{tmp}/c"
def entry(key):
    digest = key_digest(encode_key(key))
    return f"{root}/{digest[:2]}/{digest}.xc"
"""
case("memory-disk-fifo-entry", "memory", "DiskLevel.get on a FIFO put in place of an entry", [], 0,
     python=_DISK_ENTRY + textwrap.dedent("""
        import os
        level = DiskLevel(root)
        level.set("k", Record(b"value", None, 1))
        os.unlink(entry("k")); os.mkfifo(entry("k"))
        assert repr(level.get("k")) == "MISSING", level.get("k")
        """), timeout_s=60, stderr_max=None)
case("memory-disk-dir-entry", "memory", "DiskLevel.set over a folder put in place of an entry", [], 0,
     python=_DISK_ENTRY + textwrap.dedent("""
        import os
        level = DiskLevel(root)
        level.set("k", Record(b"one", None, 1))
        os.unlink(entry("k")); os.mkdir(entry("k"))
        level.set("k", Record(b"two", None, 1))
        assert level.get("k").value == b"two"
        """), stderr_max=None)
case("memory-disk-symlink-shard", "memory", "DiskLevel opening a cache whose shard is a symlink out of it", [], 0,
     python=_DISK_ENTRY + textwrap.dedent("""
        import os
        os.makedirs("{tmp}/victim"); os.makedirs(root)
        open("{tmp}/victim/keep.txt", "w").write("data")
        open("{tmp}/victim/ab" + "0" * 38 + ".xc", "w").write("not an entry")
        os.symlink("{tmp}/victim", root + "/ab")
        DiskLevel(root).close()
        assert sorted(os.listdir("{tmp}/victim")) == ["ab" + "0" * 38 + ".xc", "keep.txt"]
        """), stderr_max=None)
case("memory-disk-deep-key", "memory", "DiskLevel opening a file whose key nests 150,000 deep", [], 0,
     python=_DISK_ENTRY + textwrap.dedent("""
        import os
        from exocortex.memory.disk import TAG_BYTES, _pack_header
        key_bytes = b"t\\x01\\x00\\x00\\x00" * 150_000 + b"i\\x01\\x00\\x00\\x001"
        digest = key_digest(key_bytes)
        os.makedirs(f"{root}/{digest[:2]}")
        with open(f"{root}/{digest[:2]}/{digest}.xc", "wb") as fh:
            fh.write(_pack_header(TAG_BYTES, key_bytes, b"v", 1, None) + key_bytes + b"v")
        with DiskLevel(root) as level:
            assert len(level) == 0
        """), stderr_max=None)

# --- bench cache -------------------------------------------------------------------------------------------
_TINY = lirs("lirs-tiny.trace.gz", [1, 2, 3, 1, 4, 1, 2, 5, 1, 2])


def bench(*args: str) -> list[str]:
    return ["bench", "cache", *args]


case("bench-missing-trace", "bench", "--trace a missing file", bench("--trace", "{tmp}/absent.gz", "--size", "2"), 3)
case("bench-trace-directory", "bench", "--trace a folder", bench("--trace", "{tmp}", "--size", "2",
     "--format", "lirs"), 3)
case("bench-unknown-name", "bench", "a trace whose name says no format", bench("--trace", "{tmp}/mystery.bin",
     "--size", "2"), 3, setup=write("mystery.bin", b"\x00" * 10))
case("bench-no-size", "bench", "no --size", bench("--trace", "{tmp}/lirs-tiny.trace.gz"), 2, setup=_TINY)
for value, code in (("0", 7), ("-1", 7), ("abc", 2), ("1e21", 7), ("99999999999999999999999", 7),
                    ("18446744073709551616", 7), ("1.5", 7), ("nan", 7), ("inf", 7), ("", 2), ("1_000", 0),
                    ("1e3", 0)):
    case(f"bench-size-{value[:12] or 'empty'}", "bench", f"--size {value!r}",
         bench("--trace", "{tmp}/lirs-tiny.trace.gz", "--size", value, "--policy", "LRU"), code, setup=_TINY,
         isolate="a size could be allocated up front" if value[:1].isdigit() and len(value) > 5 else "")
case("bench-size-1e18", "bench", "--size 1e18 (valid, must not allocate)",
     bench("--trace", "{tmp}/lirs-tiny.trace.gz", "--size", "1e18"), 0, setup=_TINY, isolate=HANG)
for value, code in (("0", 7), ("-5", 7), ("abc", 2), ("1e21", 7), ("20000000", 7), ("3", 0)):
    case(f"bench-limit-{value}", "bench", f"--limit {value}",
         bench("--trace", "{tmp}/lirs-tiny.trace.gz", "--size", "2", "--limit", value), code, setup=_TINY)
case("bench-unknown-policy", "bench", "--policy MRU", bench("--trace", "{tmp}/lirs-tiny.trace.gz", "--size", "2",
     "--policy", "MRU"), 7, setup=_TINY)
case("bench-unknown-format", "bench", "--format bogus", bench("--trace", "{tmp}/lirs-tiny.trace.gz", "--size", "2",
     "--format", "bogus"), 7, setup=_TINY)
case("bench-lirs-not-integer", "bench", "a LIRS key that is not an integer",
     bench("--trace", "{tmp}/lirs-b.trace.gz", "--size", "2"), 3, setup=lirs("lirs-b.trace.gz", [1, "xyz"]))
case("bench-lirs-truncated", "bench", "a truncated gzip LIRS trace",
     bench("--trace", "{tmp}/lirs-t.trace.gz", "--size", "2"), 3,
     setup=lambda ctx: (ctx.tmp / "lirs-t.trace.gz").write_bytes(
         gzip.compress(b"1\n2\n3\n" * 3000)[:-20]))
case("bench-lirs-not-gzip", "bench", "a .gz LIRS trace that is not gzip",
     bench("--trace", "{tmp}/lirs-p.trace.gz", "--size", "2"), 3, setup=write("lirs-p.trace.gz", "1\n2\n"))
case("bench-lirs-empty", "bench", "an empty LIRS trace", bench("--trace", "{tmp}/lirs-e.trace.gz", "--size", "2"), 3,
     setup=lirs("lirs-e.trace.gz", []))
case("bench-lirs-long-line", "bench", "a LIRS trace line of 100,000 characters",
     bench("--trace", "{tmp}/lirs-l.trace.gz", "--size", "2"), 3, setup=lirs("lirs-l.trace.gz", ["1" * 100_000]))
case("bench-lirs-non-ascii", "bench", "a LIRS trace with non-ASCII bytes",
     bench("--trace", "{tmp}/lirs-u.trace.gz", "--size", "2"), 3,
     setup=write("lirs-u.trace.gz", gzip.compress("1\n\u00e9\u00e9\n".encode())))
case("bench-lirs-key-1e10", "bench", "a one-line trace of key 10^10", bench("--trace", "{tmp}/lirs-k.trace.gz",
     "--size", "2"), 0, setup=lirs("lirs-k.trace.gz", [10**10]), isolate=HANG)
case("bench-lirs-key-2e70", "bench", "a trace of key 2^70 (beyond 64 bits)",
     bench("--trace", "{tmp}/lirs-k.trace.gz", "--size", "2"), 0, setup=lirs("lirs-k.trace.gz", [2**70, 1, 2**70]),
     isolate=HANG)
case("bench-lirs-negative-keys", "bench", "a trace of negative keys", bench("--trace", "{tmp}/lirs-n.trace.gz",
     "--size", "2"), 0, setup=lirs("lirs-n.trace.gz", [-1, -2, -1]))
case("bench-arc-huge-count", "bench", "an ARC line asking for 10^10 requests",
     bench("--trace", "{tmp}/x.lis", "--size", "2"), 3, setup=write("x.lis", "0 10000000000 0 0\n"), isolate=HANG)
case("bench-arc-negative-count", "bench", "an ARC line with a negative count",
     bench("--trace", "{tmp}/x.lis", "--size", "2"), 3, setup=write("x.lis", "0 -5 0 0\n"))
case("bench-arc-malformed", "bench", "an ARC line that is not 'start count'",
     bench("--trace", "{tmp}/x.lis", "--size", "2"), 3, setup=write("x.lis", "hello\n"))
case("bench-arc-zst-corrupt", "bench", "a .lis.zst that is not zstd", bench("--trace", "{tmp}/x.lis.zst",
     "--size", "2"), 3, setup=write("x.lis.zst", b"not zstd at all"))
case("bench-scarab-truncated", "bench", "a Scarab trace cut mid-record",
     bench("--trace", "{tmp}/scarab.trace.xz", "--size", "2"), 3,
     setup=write("scarab.trace.xz", lzma.compress(struct.pack(">qq", -5, 7)[:-1])))
case("bench-scarab-not-xz", "bench", "a .xz Scarab trace that is not xz",
     bench("--trace", "{tmp}/scarab.trace.xz", "--size", "2"), 3, setup=write("scarab.trace.xz", b"plain bytes"))
case("bench-oracle-truncated", "bench", "an oracleGeneral trace cut mid-record",
     bench("--trace", "{tmp}/t.oracleGeneral.bin", "--size", "1000"), 3,
     setup=oracle("t.oracleGeneral.bin", [(42, 512), (43, 512)], cut=3))
case("bench-oracle-size-zero-all", "bench", "an oracleGeneral trace of size-0 records only",
     bench("--trace", "{tmp}/t.oracleGeneral.bin", "--size", "1000"), 3,
     setup=oracle("t.oracleGeneral.bin", [(42, 0), (43, 0), (42, 0)]))
case("bench-oracle-size-zero-some", "bench", "an oracleGeneral trace with some size-0 records",
     bench("--trace", "{tmp}/t.oracleGeneral.bin", "--size", "1000"), 0,
     setup=oracle("t.oracleGeneral.bin", [(42, 0), (43, 10), (42, 0), (43, 10)]))
case("bench-oracle-object-too-big", "bench", "an oracleGeneral object larger than the cache",
     bench("--trace", "{tmp}/t.oracleGeneral.bin", "--size", "10"), 0,
     setup=oracle("t.oracleGeneral.bin", [(1, 2**32 - 1), (2, 5), (1, 2**32 - 1)]))
case("bench-dev-zero-lirs", "bench", "--trace /dev/zero --format lirs (one endless line)",
     bench("--trace", "/dev/zero", "--format", "lirs", "--size", "2"), 3, isolate=HANG)
case("bench-dev-zero-scarab", "bench", "--trace /dev/zero --format scarab (endless records)",
     bench("--trace", "/dev/zero", "--format", "scarab", "--size", "2"), 3,
     env={"EXOCORTEX_BENCH_MAX_REQUESTS": "1000"}, isolate=HANG)
case("bench-dev-null", "bench", "--trace /dev/null --format oracle-general (no requests)",
     bench("--trace", "/dev/null", "--format", "oracle-general", "--size", "2"), 3)
case("bench-max-requests-zero", "bench", "EXOCORTEX_BENCH_MAX_REQUESTS=0",
     bench("--trace", "{tmp}/lirs-tiny.trace.gz", "--size", "2"), 7, setup=_TINY,
     env={"EXOCORTEX_BENCH_MAX_REQUESTS": "0"}, isolate=ENV)
case("bench-max-seconds-nan", "bench", "EXOCORTEX_BENCH_MAX_SECONDS=nan",
     bench("--trace", "{tmp}/lirs-tiny.trace.gz", "--size", "2"), 7, setup=_TINY,
     env={"EXOCORTEX_BENCH_MAX_SECONDS": "nan"}, isolate=ENV)
case("bench-out-of-time", "bench", "replays past EXOCORTEX_BENCH_MAX_SECONDS",
     bench("--trace", "{tmp}/lirs-big.trace.gz", "--size", "100", "--policy", "OPT"), 7,
     setup=lirs("lirs-big.trace.gz", list(range(60_000))), env={"EXOCORTEX_BENCH_MAX_SECONDS": "0.000001"},
     isolate=ENV)

# --- vcf ingest ---------------------------------------------------------------------------------------------
case("vcf-ingest-missing", "vcf", "ingest a missing file", ["vcf", "ingest", "{tmp}/nope.vcf", "--store", "{tmp}/s"],
     3)
case("vcf-ingest-directory", "vcf", "ingest a folder", ["vcf", "ingest", "{tmp}", "--store", "{tmp}/s"], 3)
case("vcf-ingest-no-file", "vcf", "ingest with no FILE", ["vcf", "ingest", "--store", "{tmp}/s"], 2)
for cid, content, code in (
    ("empty", b"", 13),
    ("text", b"hello\nthis is not a VCF\n", 13),
    ("binary", b"\x00\x01\x02binary" * 10, 13),
    ("header-only-no-chrom", b"##fileformat=VCFv4.2\n##contig=<ID=1>\n", 13),
    ("records-no-header", b"1\t5\t.\tA\tC\t.\t.\t.\n", 13),
    ("fake-gzip", b"\x1f\x8bnot really gzip at all", 13),
    ("gzip-not-vcf", gzip.compress(b"just some text\n"), 13),
    ("truncated-gzip", gzip.compress(GOOD_VCF.encode() * 50)[:-100], 13),
    ("header-no-samples-ok", (VCF_HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr1\t5\t.\tA\tC\t.\t.\t.\n")
     .encode(), 0),
    ("crlf-ok", GOOD_VCF.replace("\n", "\r\n").encode(), 0),
):
    name = "x.vcf.gz" if content[:2] == b"\x1f\x8b" else "x.vcf"
    case(f"vcf-ingest-{cid}", "vcf", f"ingest: {cid.replace('-', ' ')}",
         ["vcf", "ingest", "{tmp}/" + name, "--store", "{tmp}/s"], code, setup=write(name, content), isolate=SEGV)
case("vcf-ingest-truncated-bcf", "vcf", "ingest a BCF cut in the middle",
     ["vcf", "ingest", "{tmp}/x.bcf", "--store", "{tmp}/s"], 13, setup=bcf("x.bcf", cut=400), isolate=SEGV)
case("vcf-ingest-bcf-ok", "vcf", "ingest a BCF", ["vcf", "ingest", "{tmp}/x.bcf", "--store", "{tmp}/s"], 0,
     setup=bcf("x.bcf"), isolate=SEGV)
_BAD_LINES = {
    "one-column": "chr1",
    "two-columns": "chr1\t500",
    "three-columns": "chr1\t500\t.",
    "space-separated": "chr1 500 . A G 50 PASS DP=3 GT 0|1 0|0",
    "duplicated-chrom-line": CHROM_LINE,
    "empty-line": "",
    "seven-columns": "chr1\t500\t.\tA\tG\t50\tPASS",
    "undefined-contig": "chr9\t500\t.\tA\tG,T\t50\tPASS\tDP=3\tGT\t0|1\t0|0",
    "bad-pos": "chr1\tabc\t.\tA\tG\t50\tPASS\tDP=3\tGT\t0|1\t0|0",
    "bad-ref": "chr1\t500\t.\tZ!\tG\t50\tPASS\tDP=3\tGT\t0|1\t0|0",
    "too-many-samples": "chr1\t500\t.\tA\tG\t50\tPASS\tDP=3\tGT\t0|1\t0|0\t1|1\t1|1",
}
for kind, line in _BAD_LINES.items():
    case(f"vcf-ingest-line-{kind}", "vcf", f"ingest a bgzipped VCF with a record line: {kind.replace('-', ' ')}",
         ["vcf", "ingest", "{tmp}/x.vcf.gz", "--store", "{tmp}/s"], 0, setup=bgzip("x.vcf.gz", vcf_text(line)),
         isolate=SEGV, check=lambda ctx, r: None if "rejected" in r.stdout else "no rejected record reported")
for kind in ("three-columns", "space-separated", "duplicated-chrom-line"):
    case(f"vcf-ingest-plain-line-{kind}", "vcf", f"ingest a plain VCF with a record line: {kind.replace('-', ' ')}",
         ["vcf", "ingest", "{tmp}/x.vcf", "--store", "{tmp}/s"], 0,
         setup=write("x.vcf", vcf_text(_BAD_LINES[kind], multi=False)), isolate=SEGV)
case("vcf-ingest-escape-filename", "vcf", "ingest a VCF whose file name holds terminal escapes (the table)",
     ["vcf", "ingest", "{tmp}/evil\x1b[31m\x1b]0;pwned\x07.vcf", "--store", "{tmp}/s"], 0, no_escape=True,
     setup=write("evil\x1b[31m\x1b]0;pwned\x07.vcf", GOOD_VCF), isolate=SEGV)
case("vcf-query-escape-gene", "vcf", "query a store whose gene names and IDs hold terminal escapes (the table)",
     ["vcf", "query", "--store", "{tmp}/s"], 0, no_escape=True, isolate=SEGV,
     setup=lambda ctx: _ingest_text(ctx, GOOD_VCF.replace("|BRCA2|", "|EVIL\x1b[2J\x1b]0;pwned\x07|").replace(
         "\trs1\t", "\trs\x1b[31m1\t")))
case("vcf-stats-escape-sample", "vcf", "stats on a store whose sample names hold terminal escapes",
     ["vcf", "stats", "--store", "{tmp}/s"], 0, no_escape=True, isolate=SEGV,
     setup=lambda ctx: _ingest_text(ctx, GOOD_VCF.replace("\tA\tB\n", "\tA\x1b[2J\tB\x1b]0;pwned\x07\n")))
case("vcf-ingest-duplicate", "vcf", "ingest a file already in the store",
     ["vcf", "ingest", "{vcf}", "--store", "{tmp}/vs"], 14, setup=own_vstore)
case("vcf-ingest-duplicate-replace", "vcf", "ingest a file already in the store with --replace",
     ["vcf", "ingest", "{vcf}", "--store", "{tmp}/vs", "--replace"], 0, setup=own_vstore)
case("vcf-ingest-resume-nothing", "vcf", "--resume with no interrupted ingest",
     ["vcf", "ingest", "{vcf}", "--store", "{tmp}/s", "--resume"], 0)
for value, code in (("0", 2), ("-1", 2), ("abc", 2)):
    case(f"vcf-ingest-batch-size-{value}", "vcf", f"--batch-size {value}",
         ["vcf", "ingest", "{vcf}", "--store", "{tmp}/s", "--batch-size", value], code)
for value, code in (("nan", 7), ("-1", 7), ("inf", 7)):
    case(f"vcf-ingest-wait-{value}", "vcf", f"--wait {value}",
         ["vcf", "ingest", "{vcf}", "--store", "{tmp}/s", "--wait", value], code)
case("vcf-ingest-store-file", "vcf", "ingest --store a file", ["vcf", "ingest", "{vcf}", "--store", "{tmp}/f"], 3,
     setup=write("f", "x"), check=file_kept("f", "x"))
case("vcf-ingest-store-dev-null", "vcf", "ingest --store /dev/null", ["vcf", "ingest", "{vcf}", "--store",
     "/dev/null"], 3)
case("vcf-ingest-locked", "vcf", "ingest while another writer holds the variant store",
     ["vcf", "ingest", "{vcf}", "--store", "{tmp}/s"], 6, setup=hold_lock("s", genomics=True))
case("vcf-ingest-default-store-env", "vcf", "EXOCORTEX_STORE a file", ["vcf", "ingest", "{vcf}"], 3,
     env={"EXOCORTEX_STORE": "{tmp}/f"}, setup=write("f", "x"), isolate=ENV)


def _fasta(name: str, chrom: str, **bases: str) -> Setup:
    """A FASTA of 1,000 C on ``chrom`` with ``bases`` (``p100="A"``) at 1-based positions."""
    seq = ["C"] * 1000
    for key, base in bases.items():
        seq[int(key[1:]) - 1] = base
    text = "".join(seq)
    return write(name, f">{chrom}\n" + "".join(text[i : i + 60] + "\n" for i in range(0, 1000, 60)))


def _no_store(ctx: Ctx, r: Any) -> str | None:
    return "a store was written" if (ctx.tmp / "s").exists() else None


_MATCHING = {"p100": "A", "p200": "C", "p300": "G", "p400": "T"}
for cid, setup, code, check in (
    ("ok", _fasta("ref.fa", "chr1", **_MATCHING), 0, None),
    ("ref-mismatch", _fasta("ref.fa", "chr1", **{**_MATCHING, "p300": "T"}), 13, _no_store),
    ("missing-contig", _fasta("ref.fa", "chr2", **_MATCHING), 13, _no_store),
    ("gzipped", write("ref.fa", gzip.compress(b">chr1\nACGT\n")), 7, _no_store),
    ("missing", None, 3, _no_store),
):
    case(f"vcf-ingest-fasta-{cid}", "vcf", f"ingest --fasta: {cid.replace('-', ' ')}",
         ["vcf", "ingest", "{tmp}/x.vcf", "--fasta", "{tmp}/ref.fa", "--store", "{tmp}/s"], code,
         setup=write("x.vcf", GOOD_VCF) if setup is None else chain(write("x.vcf", GOOD_VCF), setup), check=check)
case("vcf-blocks-bad-region", "vcf", "blocks with a region whose end is before its start",
     ["vcf", "blocks", "chr1:900-100", "--store", "{vstore}"], 7)
case("vcf-blocks-unknown-sample", "vcf", "blocks of a sample the store does not hold",
     ["vcf", "blocks", "chr1", "--sample", "nobody", "--store", "{vstore}"], 12)
case("vcf-blocks-no-store", "vcf", "blocks on a folder with no variant store",
     ["vcf", "blocks", "chr1", "--store", "{tmp}/s"], 8)

# --- vcf validate -------------------------------------------------------------------------------------------
case("vcf-validate-missing", "vcf", "validate a missing file", ["vcf", "validate", "{tmp}/nope.vcf"], 3)
case("vcf-validate-directory", "vcf", "validate a folder", ["vcf", "validate", "{tmp}"], 3)
case("vcf-validate-empty", "vcf", "validate an empty file", ["vcf", "validate", "{tmp}/e.vcf"], 13,
     setup=write("e.vcf", ""), isolate=SEGV)
case("vcf-validate-text", "vcf", "validate a text file", ["vcf", "validate", "{tmp}/t.vcf"], 13,
     setup=write("t.vcf", "hello\n"), isolate=SEGV)
case("vcf-validate-truncated-gzip", "vcf", "validate a truncated gzip", ["vcf", "validate", "{tmp}/t.vcf.gz"], 13,
     setup=write("t.vcf.gz", gzip.compress(GOOD_VCF.encode() * 50)[:-100]), isolate=SEGV, stderr_max=None)
case("vcf-validate-truncated-bcf", "vcf", "validate a BCF cut in the middle", ["vcf", "validate", "{tmp}/x.bcf"], 13,
     setup=bcf("x.bcf", cut=400), isolate=SEGV, stderr_max=None)
case("vcf-validate-bad-lines", "vcf", "validate a VCF with bad record lines (problems listed, exit 0)",
     ["vcf", "validate", "{tmp}/x.vcf"], 0, setup=write("x.vcf", vcf_text(*_BAD_LINES.values())), isolate=SEGV)
case("vcf-validate-strict", "vcf", "validate --strict a VCF with bad record lines",
     ["vcf", "validate", "{tmp}/x.vcf", "--strict"], 13, setup=write("x.vcf", vcf_text(_BAD_LINES["bad-pos"])),
     isolate=SEGV, stderr_max=None)
case("vcf-validate-max-problems-negative", "vcf", "validate --max-problems -1",
     ["vcf", "validate", "{vcf}", "--max-problems", "-1"], 2)

# --- vcf query, stats, similar ----------------------------------------------------------------------------
def q(*args: str) -> list[str]:
    return ["vcf", "query", *args, "--store", "{vstore}"]


case("vcf-query-no-store", "vcf", "query a folder with no variant store", ["vcf", "query", "--store", "{tmp}/s"], 8)
case("vcf-query-store-file", "vcf", "query --store a file", ["vcf", "query", "--store", "{tmp}/f"], 3,
     setup=write("f", "x"))
case("vcf-query-code-store", "vcf", "query a store that holds only a code index", ["vcf", "query", "--store",
     "{repo}/.exocortex"], 8)
for flag, value, code in (("--min-af", "nan", 7), ("--max-af", "inf", 7), ("--min-qual", "-inf", 7),
                          ("--min-af", "abc", 2), ("--limit", "-1", 7), ("--limit", "abc", 2),
                          ("--region", "chr1:500-100", 7),
                          ("--region", "chr1:1-99999999999999999999", 7), ("--region", "chr1:abc", 7),
                          ("--region", ":", 7),
                          ("--zygosity", "triploid", 7), ("--impact", "SEVERE", 7), ("--where", "1=1; DROP x", 7),
                          ("--where", "gene = 'BRCA2", 7), ("--where", "no_such_column > 1", 7), ("--where", "   ", 7),
                          ("--where", "))((", 7), ("--sample", "nobody", 12), ("--region", "chrZ", 0),
                          ("--gene", "NOSUCHGENE", 0), ("--limit", "0", 0)):
    case(f"vcf-query{flag[1:]}-{value[:14].strip() or 'blank'}", "vcf", f"query {flag} {value!r}", q(flag, value), code)
case("vcf-query-af-range-inverted", "vcf", "query --min-af above --max-af", q("--min-af", "0.5", "--max-af", "0.1"), 7)
case("vcf-query-ok-json", "vcf", "a healthy query, --json", q("--gene", "BRCA2", "--json"), 0, check=valid_json)
case("vcf-stats-no-store", "vcf", "stats on a folder with no variant store", ["vcf", "stats", "--store",
     "{tmp}/s"], 8)
case("vcf-stats-ok", "vcf", "stats on a healthy variant store", ["vcf", "stats", "--store", "{vstore}"], 0)
case("vcf-stats-partial-ingest", "vcf", "stats on a store whose ingest crashed half way (says so)",
     ["vcf", "stats", "--store", "{tmp}/s"], 0, setup=partly_ingested, check=stdout_has("incomplete"))
case("vcf-stats-manifest-garbage", "vcf", "stats on a variant store whose manifest is garbage",
     ["vcf", "stats", "--store", "{tmp}/vs"], 4,
     setup=chain(own_vstore, lambda ctx: (ctx.tmp / "vs" / "genomics" / "manifest.json").write_text("{oops")))
case("vcf-similar-unknown", "vcf", "similar to a variant not in the store",
     ["vcf", "similar", "chr1:999:A:T", "--store", "{vstore}"], 12)
case("vcf-similar-garbage-key", "vcf", "similar to a key that is not a key",
     ["vcf", "similar", "::::", "--store", "{vstore}"], 12)
for value, code in (("0", 7), ("-1", 7), ("abc", 2), ("100000000000000000000", 0)):
    case(f"vcf-similar-k-{value[:12]}", "vcf", f"similar -k {value}",
         ["vcf", "similar", "chr1:100:A:G", "-k", value, "--store", "{vstore}"], code)
case("vcf-similar-ok", "vcf", "similar on a key holding ':100:' (table title)",
     ["vcf", "similar", "chr1:100:A:G", "--store", "{vstore}"], 0, check=stdout_lacks("\U0001f4af"))
case("vcf-similar-no-store", "vcf", "similar on a folder with no variant store",
     ["vcf", "similar", "chr1:100:A:G", "--store", "{tmp}/s"], 8)

# --- vcf samples / genotype / inheritance -----------------------------------------------------------------
case("vcf-samples-ok", "vcf", "list the samples of a healthy store",
     ["vcf", "samples", "--store", "{vstore}", "--json"], 0, check=valid_json)
case("vcf-samples-no-store", "vcf", "samples of a folder with no variant store", ["vcf", "samples", "--store",
     "{tmp}/s"], 8)
case("vcf-samples-ped-missing", "vcf", "samples --ped a file that does not exist",
     ["vcf", "samples", "--ped", "{tmp}/none.ped", "--store", "{tmp}/vs"], 3, setup=own_vstore)
case("vcf-samples-ped-short-line", "vcf", "samples --ped with a five-column line (names its line number)",
     ["vcf", "samples", "--ped", "{tmp}/bad.ped", "--store", "{tmp}/vs"], 2,
     setup=chain(own_vstore, write("bad.ped", "F A B 0 1 2\nF B 0 0 1\n")), check=stderr_has("line 2"))
case("vcf-samples-ped-bad-sex", "vcf", "samples --ped with sex 'M' instead of 1",
     ["vcf", "samples", "--ped", "{tmp}/bad.ped", "--store", "{tmp}/vs"], 2,
     setup=chain(own_vstore, write("bad.ped", "F A 0 0 M 2\n")))
case("vcf-samples-ped-binary", "vcf", "samples --ped a binary file",
     ["vcf", "samples", "--ped", "{tmp}/bad.ped", "--store", "{tmp}/vs"], 3,
     setup=chain(own_vstore, write("bad.ped", b"\xff\xfe\x00garbage")))
case("vcf-samples-ped-empty", "vcf", "samples --ped an empty file",
     ["vcf", "samples", "--ped", "{tmp}/e.ped", "--store", "{tmp}/vs"], 2, setup=chain(own_vstore, write("e.ped", "")))
case("vcf-samples-ped-unknown-samples", "vcf", "samples --ped naming samples the store lacks (warned, rest kept)",
     ["vcf", "samples", "--ped", "{tmp}/p.ped", "--store", "{tmp}/vs"], 0, stderr_max=1,
     setup=chain(own_vstore, write("p.ped", "F A B ZZ 1 2\nF B 0 0 1 1\nF ZZ 0 0 2 1\n")), check=stderr_has("ZZ"))
case("vcf-genotype-unknown-sample", "vcf", "genotype of a sample not in the store",
     ["vcf", "genotype", "chr1:100:A:G", "nobody", "--store", "{vstore}"], 12)
case("vcf-genotype-unknown-variant", "vcf", "genotype at a variant not in the store",
     ["vcf", "genotype", "chr1:999:A:T", "A", "--store", "{vstore}"], 12)
case("vcf-genotype-blank-sample", "vcf", "genotype of a blank sample name",
     ["vcf", "genotype", "chr1:100:A:G", " ", "--store", "{vstore}"], 2)
case("vcf-genotype-ok", "vcf", "genotype of a hom-ref sample", ["vcf", "genotype", "chr1:100:A:G", "B", "--store",
     "{vstore}"], 0, check=stdout_has("hom_ref"))
case("vcf-inheritance-no-pedigree", "vcf", "inheritance on a store without a PED",
     ["vcf", "inheritance", "de_novo", "--store", "{vstore}"], 2)
case("vcf-inheritance-bad-mode", "vcf", "inheritance with an unknown mode",
     ["vcf", "inheritance", "dominant", "--store", "{vstore}"], 2)
case("vcf-inheritance-negative-limit", "vcf", "inheritance --limit -1",
     ["vcf", "inheritance", "de_novo", "--limit", "-1", "--store", "{vstore}"], 2)
case("vcf-inheritance-no-store", "vcf", "inheritance on a folder with no variant store",
     ["vcf", "inheritance", "de_novo", "--store", "{tmp}/s"], 8)

# --- vcf graph -------------------------------------------------------------------------------------------
def g(*args: str) -> list[str]:
    return ["vcf", "graph", *args, "--store", "{vstore}"]


case("vcf-graph-nothing", "vcf", "graph with no QUERY and no --build", g(), 7)
case("vcf-graph-not-built", "vcf", "graph QUERY before --build", ["vcf", "graph", "MATCH (g:Gene) RETURN g.symbol",
     "--store", "{tmp}/vs"], 8,
     setup=chain(own_vstore, lambda ctx: (ctx.tmp / "vs" / "genomics" / "graph").unlink()))
case("vcf-graph-no-store", "vcf", "graph --build on a folder with no variant store",
     ["vcf", "graph", "--build", "--store", "{tmp}/s"], 8)
case("vcf-graph-empty-query", "vcf", "graph ''", g(""), 7)
case("vcf-graph-syntax-error", "vcf", "graph with a Cypher syntax error", g("MATCH (g:Gene RETURN"), 7)
case("vcf-graph-create", "vcf", "graph with a write (CREATE)", g("CREATE (g:Gene {symbol: 'X'})"), 7)
case("vcf-graph-two-statements", "vcf", "graph with two statements", g("MATCH (g:Gene) RETURN g; MATCH (s) DELETE s"),
     7)
case("vcf-graph-copy-to", "vcf", "graph with COPY ... TO a file (a write outside the store)",
     g("COPY (MATCH (g:Gene) RETURN g.symbol) TO '{tmp}/out.csv'"), 7, check=no_file("out.csv"))
case("vcf-graph-load-extension", "vcf", "graph with LOAD EXTENSION", g("LOAD EXTENSION httpfs"), 7)
case("vcf-graph-unwind-huge", "vcf", "graph UNWIND range(1,2000000000) (must stop at its time limit)",
     g("UNWIND range(1, 2000000000) AS x RETURN count(x)"), 7, isolate=HANG, timeout_s=90)
case("vcf-graph-rows-1e10", "vcf", "graph returning 10^10 rows (held up to --max-rows, the rest counted)",
     g("UNWIND range(1, 100000) AS x UNWIND range(1, 100000) AS y RETURN x, y"), 0, isolate=HANG, timeout_s=90)
case("vcf-graph-slow-query", "vcf", "graph with a query that runs past --timeout 2",
     g("UNWIND range(1, 100000) AS x UNWIND range(1, 100000) AS y WITH x, y WHERE x + y < 0 RETURN count(*)",
       "--timeout", "2"), 7, isolate=HANG, timeout_s=90)
case("vcf-graph-memory-hog", "vcf", "graph collecting 10^8 values (past the query's memory limit)",
     g("UNWIND range(1, 100000000) AS x RETURN collect(x)", "--timeout", "20"), 7, isolate=HANG, timeout_s=90)
for value, code in (("nan", 7), ("-1", 7), ("0", 7), ("inf", 7), ("abc", 2)):
    case(f"vcf-graph-timeout-{value}", "vcf", f"graph --timeout {value}",
         g("MATCH (g:Gene) RETURN g.symbol", "--timeout", value), code)
for value, code in (("-1", 7), ("abc", 2), ("0", 0), ("1000000000000", 7)):
    case(f"vcf-graph-max-rows-{value}", "vcf", f"graph --max-rows {value}",
         g("MATCH (g:Gene) RETURN g.symbol", "--max-rows", value), code)
case("vcf-graph-ok", "vcf", "a healthy graph query, --json", g("MATCH (g:Gene) RETURN g.symbol", "--json"), 0,
     check=valid_json)

# --- the command line as a whole ---------------------------------------------------------------------------
case("cli-no-arguments", "config", "no command at all (prints help)", [], 2, stderr_max=None)
case("cli-unknown-command", "config", "an unknown command", ["bogus"], 2)
case("cli-vcf-unknown-command", "config", "an unknown vcf command", ["vcf", "bogus"], 2)
case("cli-exit-codes", "config", "exit-codes lists the table", ["exit-codes"], 0)
case("cli-help", "config", "--help", ["index", "--help"], 0)


# --------------------------------------------------------------------------- running


@dataclass
class Result:
    case: Case
    mode: str  # "subprocess" or "in-process"
    code: int | None  # None: killed for running past its time limit
    stdout: str
    stderr: str
    seconds: float
    hang: bool = False
    check_problem: str | None = None
    runner_error: str | None = None  # the case could not be set up or run (a bug in the catalogue or the runner)

    @property
    def stderr_lines(self) -> int:
        return len(self.stderr.splitlines())

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stdout or "Traceback (most recent call last)" in self.stderr

    @property
    def signal(self) -> int | None:
        return -self.code if self.code is not None and self.code < 0 else None

    @property
    def internal_error(self) -> bool:
        return self.code == 1

    @property
    def raw_escape(self) -> bool:
        return ESC in self.stdout or ESC in self.stderr

    @property
    def problems(self) -> list[str]:
        if self.runner_error:
            return [f"the case could not run: {self.runner_error}"]
        found = []
        c = self.case
        if self.hang:
            found.append(f"hang: still running after {c.timeout_s:g} s")
        elif self.signal is not None:
            name = signal.Signals(self.signal).name if self.signal in signal.valid_signals() else str(self.signal)
            found.append(f"killed by {name}")
        elif self.code != c.expected:
            found.append(f"exit {self.code}, expected {c.expected}")
        if self.traceback:
            found.append("a traceback")
        allowed = c.allowed_stderr_lines
        if allowed is not None and not self.hang and self.stderr_lines > allowed:
            found.append(f"{self.stderr_lines} stderr lines, at most {allowed}")
        if any(noise in self.stderr for noise in HTSLIB_NOISE):
            found.append("htslib's own messages on stderr")
        if c.no_escape and self.raw_escape:
            found.append("raw ESC in the output")
        if self.check_problem:
            found.append(self.check_problem)
        return found

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def got(self) -> str:
        if self.runner_error:
            return "not run"
        if self.hang:
            return "hang"
        if self.signal is not None:
            return f"signal {self.signal}"
        return str(self.code)

    def first_stderr_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[0] if lines else ""

    def describe(self) -> str:
        """A failure report: the command, what came back, and stderr's start."""
        return (
            f"{self.case.id}: {'; '.join(self.problems) or 'ok'}\n  command: {self.case.command()}\n"
            f"  mode: {self.mode}, {self.seconds:.1f} s\n  stderr: {self.stderr[-2000:]!r}\n"
            f"  stdout: {self.stdout[:500]!r}"
        )


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without the user's EXOCORTEX_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOCORTEX_")}
    env.update(extra)
    return env


@contextlib.contextmanager
def _clean_environment(extra: Mapping[str, str]) -> Iterator[None]:
    if not extra and not any(k.startswith("EXOCORTEX_") for k in os.environ):
        yield  # nothing to change (and nothing changed under a thread that reads the environment)
        return
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update({k: v for k, v in saved.items() if not k.startswith("EXOCORTEX_")})
        os.environ.update(extra)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


_ENTRY = "import sys\nfrom exocortex.cli import main\nsys.exit(main(sys.argv[1:]))\n"
_API_WRAPPER = """
import sys
from exocortex.errors import ExocortexError
try:
    exec(compile(sys.argv[1], "<case>", "exec"), {"__name__": "__case__"})
except ExocortexError as exc:
    print(f"exocortex: error: {exc.message}", file=sys.stderr)
    sys.exit(exc.exit_code)
"""


def _subprocess_argv(case: Case, ctx: Ctx, argv: list[str]) -> list[str]:
    if case.python is not None:
        return [sys.executable, "-c", _API_WRAPPER, ctx.expand(case.python)]
    if case.prelude is not None:
        return [sys.executable, "-c", ctx.expand(case.prelude) + _ENTRY, *argv]
    return [sys.executable, "-c", _ENTRY, *argv]


def _run_subprocess(case: Case, ctx: Ctx, argv: list[str], env: dict[str, str]) -> Result:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            _subprocess_argv(case, ctx, argv), cwd=ctx.tmp, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=err, start_new_session=True,
        )
        hang = False
        deadline = started + case.timeout_s
        interrupted = case.interrupt is None
        try:
            while proc.poll() is None:
                now = time.perf_counter()
                if now > deadline:
                    hang = True
                    break
                if not interrupted and case.interrupt is not None and case.interrupt(ctx):
                    time.sleep(0.1)
                    with contextlib.suppress(ProcessLookupError):
                        if case.interrupt_signal == signal.SIGINT:
                            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole group
                        else:
                            os.kill(proc.pid, case.interrupt_signal)  # kill PID, a service manager
                    interrupted = True
                time.sleep(0.02)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # a timed-out case, or its leftover children
            proc.wait()
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read(OUTPUT_LIMIT).decode("utf-8", "replace")
        stderr = err.read(OUTPUT_LIMIT).decode("utf-8", "replace")
    return Result(case, "subprocess", None if hang else proc.returncode, stdout, stderr, seconds, hang=hang)


def _run_in_process(case: Case, ctx: Ctx, argv: list[str], env: dict[str, str]) -> Result:
    from exocortex.cli import main

    saved_cwd = os.getcwd()
    saved_streams = sys.stdout, sys.stderr
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, _clean_environment(env):
        for stream in saved_streams:
            with contextlib.suppress(Exception):
                stream.flush()
        saved_fds = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace",
                                      line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="replace",
                                      line_buffering=True)
        started = time.perf_counter()
        try:
            os.chdir(ctx.tmp)
            code: int = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - anything out of main() is what a user would see as a crash
            traceback.print_exc()
            code = 1
        finally:
            seconds = time.perf_counter() - started
            os.chdir(saved_cwd)
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            os.close(saved_fds[0])
            os.close(saved_fds[1])
        out.seek(0)
        err.seek(0)
        stdout = out.read(OUTPUT_LIMIT).decode("utf-8", "replace")
        stderr = err.read(OUTPUT_LIMIT).decode("utf-8", "replace")
    return Result(case, "in-process", code, stdout, stderr, seconds)


def needs_subprocess(case: Case) -> bool:
    return bool(case.isolate) or case.python is not None or case.interrupt is not None or case.prelude is not None


def run_case(case: Case, shared: Shared, base: Path, mode: str = "subprocess") -> Result:
    """Run ``case`` in a fresh folder under ``base``; ``mode`` is "subprocess" or "auto" (in this
    process unless the case needs its own)."""
    tmp = Path(tempfile.mkdtemp(prefix=case.id[:40] + "-", dir=base))
    ctx = Ctx(tmp, shared)
    try:
        if case.setup is not None:
            case.setup(ctx)
        argv = [ctx.expand(a) for a in case.argv]
        env = {k: ctx.expand(v) for k, v in case.env.items()}
        if mode == "subprocess" or needs_subprocess(case):
            result = _run_subprocess(case, ctx, argv, _environment(env))
        else:
            result = _run_in_process(case, ctx, argv, env)
        if case.check is not None and not result.hang:
            result.check_problem = case.check(ctx, result)
        return result
    except Exception as exc:  # noqa: BLE001 - reported as this case's failure, the run goes on
        return Result(case, mode, None, "", traceback.format_exc(), 0.0,
                      runner_error=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        for cleanup in reversed(ctx.cleanups):
            with contextlib.suppress(Exception):
                cleanup()


def by_area() -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in CASES:
        counts[c.area] = counts.get(c.area, 0) + 1
    return dict(sorted(counts.items()))


__all__ = ["CASES", "Case", "Ctx", "Result", "Shared", "by_area", "needs_subprocess", "run_case"]
