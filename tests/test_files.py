"""The walk outside git, skips, symlinks, special files, reading and decoding."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exocortex.config import Config
from exocortex.errors import InputPathError
from exocortex.sources.files import (
    SKIP_REASONS,
    SkippedFile,
    SourceBytes,
    SourceFile,
    decode_source,
    has_binary_extension,
    read_source,
    sniff_binary,
    walk_source_files,
)

CONFIG = Config()


@pytest.fixture(autouse=True)
def no_git_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_DIR", raising=False)


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)


def listing(root: Path, config: Config = CONFIG, **kw: object) -> tuple[set[str], dict[str, SkippedFile]]:
    result = walk_source_files(root, config, **kw)  # type: ignore[arg-type]
    assert not result.git
    assert [f.path for f in result.files] == sorted(f.path for f in result.files)
    assert [s.path for s in result.skipped] == sorted(s.path for s in result.skipped)
    assert all(s.reason in SKIP_REASONS for s in result.skipped)
    return {f.path for f in result.files}, {s.path: s for s in result.skipped}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


# ------------------------------------------------------------------ the root


def test_a_missing_root_is_an_input_path_error(tmp_path: Path) -> None:
    with pytest.raises(InputPathError) as info:
        walk_source_files(tmp_path / "nope", CONFIG)
    assert info.value.exit_code == 3
    assert "does not exist" in info.value.message
    assert "\n" not in info.value.message


def test_a_file_as_root_is_an_input_path_error(tmp_path: Path) -> None:
    (tmp_path / "f.py").write_text("x = 1\n")
    with pytest.raises(InputPathError, match="not a directory"):
        walk_source_files(tmp_path / "f.py", CONFIG)


def test_files_carry_size_and_mtime_from_stat(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "print(1)\n", "sub/b.md": "# hi\n"})
    result = walk_source_files(tmp_path, CONFIG)
    assert result.root == tmp_path.resolve()
    by_path = {f.path: f for f in result.files}
    assert set(by_path) == {"a.py", "sub/b.md"}
    st_a = os.stat(tmp_path / "a.py")
    assert by_path["a.py"] == SourceFile("a.py", st_a.st_size, st_a.st_mtime_ns)
    assert hash(by_path["a.py"]) == hash(SourceFile("a.py", st_a.st_size, st_a.st_mtime_ns))


def test_the_store_directory_is_excluded_silently(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "x\n", "store/data.txt": "x\n", "src/b.py": "x\n"})
    files, skipped = listing(tmp_path, exclude_dirs=[tmp_path / "store", tmp_path / "src" / "b.py"])
    assert files == {"a.py"}
    assert skipped == {}


# ------------------------------------------------------------ binary, size


def test_binary_extensions_are_skipped_without_reading(tmp_path: Path) -> None:
    write(tmp_path, {"logo.PNG": b"\x89PNG", "lib.so": b"\x7fELF", "a.tar.gz": b"", "ok.py": "x\n"})
    files, skipped = listing(tmp_path)
    assert files == {"ok.py"}
    assert skipped["logo.PNG"] == SkippedFile("logo.PNG", "binary", "extension .png")
    assert skipped["a.tar.gz"].detail == "extension .gz"
    assert skipped["lib.so"].reason == "binary"


@pytest.mark.parametrize(
    ("path", "binary"),
    [
        ("a/b.png", True),
        ("x.PYC", True),
        ("m.parquet", True),
        ("d.lance", True),
        ("w.whl", True),
        ("a.py", False),
        ("Makefile", False),
        (".png", False),
        ("img.svg", False),
        ("dir.png/readme", False),
    ],
)
def test_has_binary_extension(path: str, binary: bool) -> None:
    assert has_binary_extension(path) is binary


def test_sniff_binary() -> None:
    assert sniff_binary(b"ELF\x00\x01")
    assert not sniff_binary(b"plain text\n")
    assert not sniff_binary(b"")
    assert not sniff_binary("utf-16 text".encode("utf-16"))  # BOM + NULs: text
    assert not sniff_binary("utf-32".encode("utf-32"))
    assert sniff_binary("no bom".encode("utf-16-le"))


def test_a_sparse_gigabyte_is_skipped_instantly(tmp_path: Path) -> None:
    with open(tmp_path / "huge.txt", "wb") as fh:
        fh.truncate(1 << 30)
    (tmp_path / "small.txt").write_text("x\n")
    start = time.perf_counter()
    files, skipped = listing(tmp_path)
    assert time.perf_counter() - start < 2.0
    assert files == {"small.txt"}
    assert skipped["huge.txt"] == SkippedFile("huge.txt", "too_large", f"{1 << 30} bytes > {CONFIG.max_file_bytes}")
    assert read_source(tmp_path, "huge.txt", CONFIG) == skipped["huge.txt"]


def test_max_file_bytes_is_the_limit(tmp_path: Path) -> None:
    write(tmp_path, {"at.txt": "x" * 100, "over.txt": "x" * 101})
    files, skipped = listing(tmp_path, Config(max_file_bytes=100))
    assert files == {"at.txt"}
    assert skipped["over.txt"].reason == "too_large"


# --------------------------------------------------- symlinks, special files


def test_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, {"real.py": "print('real')\n", "pkg/mod.py": "x\n"})
    write(tmp_path, {"outside.py": "secret\n"})
    os.symlink("real.py", root / "alias.py")
    os.symlink(tmp_path / "outside.py", root / "out.py")
    os.symlink("pkg", root / "pkglink")
    os.symlink("missing.py", root / "broken.py")
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")
    files, skipped = listing(root)
    assert files == {"real.py", "alias.py", "pkg/mod.py"}
    real = os.stat(root / "real.py")
    alias = next(f for f in walk_source_files(root, CONFIG).files if f.path == "alias.py")
    assert (alias.size, alias.mtime_ns) == (real.st_size, real.st_mtime_ns)
    assert skipped["out.py"] == SkippedFile("out.py", "symlink", "points outside the root")
    assert skipped["pkglink"] == SkippedFile("pkglink", "symlink", "directory symlink not followed")
    assert skipped["broken.py"].reason == "symlink" and "broken" in skipped["broken.py"].detail
    assert skipped["loop-a"] == SkippedFile("loop-a", "symlink", "symlink loop")


def test_a_symlinked_root_is_walked_from_its_target(tmp_path: Path) -> None:
    write(tmp_path, {"real/a.py": "x\n"})
    os.symlink("real", tmp_path / "link")
    os.symlink("a.py", tmp_path / "real" / "b.py")
    result = walk_source_files(tmp_path / "link", CONFIG)
    assert result.root == (tmp_path / "real").resolve()
    assert {f.path for f in result.files} == {"a.py", "b.py"}


def test_fifo_and_socket_are_special(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock"))
        (tmp_path / "a.py").write_text("x\n")
        files, skipped = listing(tmp_path)
    finally:
        sock.close()
    assert files == {"a.py"}
    assert skipped["pipe"] == SkippedFile("pipe", "special", "fifo")
    assert skipped["sock"] == SkippedFile("sock", "special", "socket")
    # reading a fifo must not block
    assert read_source(tmp_path, "pipe", CONFIG) == SkippedFile("pipe", "special", "fifo")


# ------------------------------------------------------------- permissions

_PERMISSION_PROBE = """
import json, sys
from pathlib import Path
from exocortex.config import Config
from exocortex.sources.files import walk_source_files, read_source
root = Path(sys.argv[1])
result = walk_source_files(root, Config())
print(json.dumps({
    "files": [f.path for f in result.files],
    "skipped": [[s.path, s.reason, s.detail] for s in result.skipped],
    "read": repr(read_source(root, "secret.py", Config())),
}))
"""


def _without_dac_override() -> list[str]:
    """A command prefix under which permission bits apply, even to root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: chmod 000 cannot be enforced")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_unreadable_directory_and_file(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "x\n", "locked/inner.py": "x\n", "secret.py": "x\n", "z/b.py": "x\n"})
    (tmp_path / "locked").chmod(0)
    (tmp_path / "secret.py").chmod(0)
    try:
        probe = subprocess.run(
            [*_without_dac_override(), sys.executable, "-c", _PERMISSION_PROBE, str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        (tmp_path / "locked").chmod(0o755)
        (tmp_path / "secret.py").chmod(0o644)
    out = json.loads(probe.stdout)
    # the walk goes on past the locked directory; the file is listed (the walk reads nothing)
    assert out["files"] == ["a.py", "secret.py", "z/b.py"]
    assert out["skipped"] == [["locked", "unreadable", "permission denied"]]
    assert "unreadable" in out["read"] and "permission denied" in out["read"]


def test_an_unreadable_root_is_an_input_path_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0)
    code = (
        "import sys\nfrom pathlib import Path\nfrom exocortex.config import Config\n"
        "from exocortex.errors import InputPathError\n"
        "from exocortex.sources.files import walk_source_files\n"
        "try:\n    walk_source_files(Path(sys.argv[1]), Config())\n"
        "except InputPathError as e:\n    print(e.exit_code, e.message)\n"
    )
    try:
        probe = subprocess.run(
            [*_without_dac_override(), sys.executable, "-c", code, str(root)],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        root.chmod(0o755)
    assert probe.stdout.startswith("3 cannot read input directory")
    assert "permission denied" in probe.stdout


# ------------------------------------------------------------ read_source


def test_read_source(tmp_path: Path) -> None:
    write(tmp_path, {"t.py": "x = 1\n", "nul.dat.txt": b"abc\x00def", "late.txt": b"\x00" * 10})
    read = read_source(tmp_path, "t.py", CONFIG)
    assert isinstance(read, SourceBytes) and read.data == b"x = 1\n" and read.size == 6
    assert read_source(tmp_path, "nul.dat.txt", CONFIG) == SkippedFile(
        "nul.dat.txt", "binary", f"NUL byte in the first {CONFIG.binary_sniff_bytes} bytes"
    )
    late = read_source(tmp_path, "late.txt", Config(binary_sniff_bytes=0))
    assert isinstance(late, SourceBytes) and late.data == b"\x00" * 10
    assert read_source(tmp_path, "gone.py", CONFIG) == SkippedFile("gone.py", "vanished", "deleted after the walk")


# ----------------------------------------------------- ignores outside git


def test_default_ignores_outside_git(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/app.py": "x\n",
            "node_modules/lib/index.js": "x\n",
            "src/__pycache__/app.cpython-311.opt.txt": "x\n",
            ".venv/pyvenv.cfg": "home = /usr\n",
            ".venv/lib/site.py": "x\n",
            "myenv/pyvenv.cfg": "home = /usr\n",
            "myenv/lib/x.py": "x\n",
            "notenv/pyvenv.cfg.txt": "just a file\n",
            "target/CACHEDIR.TAG": "Signature: 8a477f597d28d172789f06886806bc55\n",
            "target/debug/out.txt": "x\n",
            "build/out.py": "x\n",
            "src/build/keep.py": "nested build/ is source\n",
            "dist/pkg.txt": "x\n",
            ".git/config": "x\n",
            ".hg/store": "x\n",
            ".mypy_cache/x.json": "x\n",
            "pkg.egg-info/PKG-INFO": "x\n",
            ".exocortex/manifest.json": "x\n",
            ".github/workflows/ci.yml": "x\n",
        },
    )
    files, skipped = listing(tmp_path)
    assert files == {
        "src/app.py",
        "src/build/keep.py",
        "notenv/pyvenv.cfg.txt",
        ".github/workflows/ci.yml",
    }
    assert skipped == {}
    everything, _ = listing(tmp_path, Config(use_default_ignores=False))
    assert "node_modules/lib/index.js" in everything and "myenv/lib/x.py" in everything
    assert not any(p.startswith(".git/") for p in everything)  # .git is always skipped


def test_gitignore_and_ignore_files_outside_git(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "*.log\nsecret/\n",
            ".ignore": "!keep.log\n!/build/\n",
            "a.log": "x\n",
            "keep.log": "x\n",
            "secret/k.txt": "x\n",
            "build/gen.py": "re-included over the defaults\n",
            "sub/.exocortexignore": "*.md\n",
            "sub/readme.md": "x\n",
            "sub/.gitignore": "!readme.md\n",  # a .gitignore cannot override an .exocortexignore
            "sub/code.py": "x\n",
            "readme.md": "x\n",
        },
    )
    files, _ = listing(tmp_path)
    assert files == {
        ".gitignore",
        ".ignore",
        "keep.log",
        "build/gen.py",
        "sub/.exocortexignore",
        "sub/.gitignore",
        "sub/code.py",
        "readme.md",
    }
    plain, _ = listing(tmp_path, Config(extra_ignore_files=()))
    assert "keep.log" not in plain and "sub/readme.md" in plain


def test_a_nested_repository_outside_git_is_walked(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    write(tmp_path, {"a.py": "x\n", "vendored/lib.py": "x\n", "vendored/.gitignore": "*.tmp\n"})
    git(tmp_path / "vendored", "init", "-q")
    write(tmp_path, {"vendored/x.tmp": "x\n"})
    files, _ = listing(tmp_path)
    assert files == {"a.py", "vendored/lib.py", "vendored/.gitignore"}


# --------------------------------------------------------- ignores in git


def test_ignore_files_in_git_exclude_even_tracked_files(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    write(
        tmp_path,
        {
            ".gitignore": "*.log\n",
            ".ignore": "!keep.log\n",
            ".exocortexignore": "fixtures/\nsecret.py\n",
            "keep.log": "x\n",
            "drop.log": "x\n",
            "fixtures/big.json": "x\n",
            "secret.py": "x\n",
            "app.py": "x\n",
        },
    )
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "add", "-f", "drop.log")
    result = walk_source_files(tmp_path, CONFIG)
    assert result.git
    assert {f.path for f in result.files} == {
        ".gitignore",
        ".ignore",
        ".exocortexignore",
        "keep.log",  # re-included by .ignore over .gitignore
        "drop.log",  # ignored by .gitignore but tracked
        "app.py",
    }


# -------------------------------------------------------------- file names


def test_a_name_that_is_not_utf8_is_reported_not_returned(tmp_path: Path) -> None:
    bad = os.fsencode(tmp_path) + b"/caf\xe9.py"
    with open(bad, "wb") as fh:
        fh.write(b"x\n")
    (tmp_path / "ok.py").write_text("x\n")
    files, skipped = listing(tmp_path)
    assert files == {"ok.py"}
    [(path, skip)] = skipped.items()
    assert path == "caf\\xe9.py"
    assert skip.reason == "unreadable"
    path.encode("utf-8")  # no lone surrogates escape into results


def test_names_with_newlines_and_odd_characters(tmp_path: Path) -> None:
    write(tmp_path, {"a\nb.log": "x\n", "c\nd.py": "x\n", "sp ace.py": "x\n", ".gitignore": "*.log\n"})
    files, _ = listing(tmp_path)
    assert files == {"c\nd.py", "sp ace.py", ".gitignore"}


# ---------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (b"plain\r\nascii\n", "plain\r\nascii\n", "utf-8"),
        ("ünïcode ✓\n".encode(), "ünïcode ✓\n", "utf-8"),
        (b"\xef\xbb\xbfbom\n", "bom\n", "utf-8-sig"),
        ("utf16 ✓\r\n".encode("utf-16"), "utf16 ✓\r\n", "utf-16"),
        ("utf16be".encode("utf-16-be").join([b"\xfe\xff", b""]), "utf16be", "utf-16"),
        ("utf32 ✓".encode("utf-32"), "utf32 ✓", "utf-32"),
        (b"caf\xe9 \x93quoted\x94\n", "café “quoted”\n", "cp1252"),
        (b"undefined in cp1252: \x81\x8d", "undefined in cp1252: \x81\x8d", "latin-1"),
        (
            "mostly ✓ utf-8 ✓ with".encode() + b" one bad byte \xff",
            "mostly ✓ utf-8 ✓ with one bad byte \ufffd",
            "utf-8-replace",
        ),
    ],
)
def test_decode_source(data: bytes, text: str, encoding: str) -> None:
    assert decode_source(data) == (text, encoding)


def test_decode_source_never_returns_lone_surrogates() -> None:
    # an encoded surrogate (invalid UTF-8) and an unpaired UTF-16 surrogate
    for data in (b"a\xed\xa0\x80b", b"\xff\xfe" + b"a\x00\x00\xd8b\x00", b"\xff\xfe\x00"):
        text, _ = decode_source(data)
        text.encode("utf-8")


@given(st.binary(max_size=200))
def test_decode_source_never_raises(data: bytes) -> None:
    text, encoding = decode_source(data)
    text.encode("utf-8")  # strict: would raise on a lone surrogate
    assert encoding in {"utf-8", "utf-8-sig", "utf-16", "utf-32", "utf-8-replace", "cp1252", "latin-1"}
