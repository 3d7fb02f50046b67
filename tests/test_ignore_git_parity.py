"""walk_source_files against real git: the same files, on real repositories.

Each test builds a repository with the git on PATH and compares the walk (files
plus skipped files) with ``git ls-files --cached --others --exclude-standard``
restricted to what exists on disk. A nested repository that git shows as
``dir/`` must come back as one ``nested_repo`` skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exocortex.config import Config
from exocortex.sources.files import SkipReason, walk_source_files
from exocortex.sources.patterns import compile_ignore_file, parse_ignore_lines


def test_git_is_installed() -> None:
    """The parity tests compare with git itself: without it they cannot say anything (a failure, not a skip)."""
    assert shutil.which("git") is not None, "git is not installed: the ignore-rule parity tests need it"


CONFIG = Config()


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No user or system git configuration: both git and the walker see the same, empty one."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CEILING_DIRECTORIES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@example.com")
    return home


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def git_listing(root: Path) -> tuple[set[str], set[str]]:
    """(files git lists that exist, nested repositories git shows as 'dir/')."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout
    paths = {p for p in os.fsdecode(out).split("\0") if p}
    nested = {p.rstrip("/") for p in paths if p.endswith("/")}
    files = {p for p in paths if not p.endswith("/") and os.path.lexists(root / p)}
    # a submodule is listed as its gitlink: a directory, not a file
    submodules = {p for p in files if os.path.isdir(root / p) and not os.path.islink(root / p)}
    return files - submodules, nested | submodules


def walk_listing(root: Path) -> tuple[set[str], set[str]]:
    result = walk_source_files(root, CONFIG)
    assert result.git
    nested = {s.path for s in result.skipped if s.reason == SkipReason.NESTED_REPO}
    listed = {f.path for f in result.files} | {s.path for s in result.skipped if s.reason != SkipReason.NESTED_REPO}
    return listed, nested


def assert_parity(root: Path) -> set[str]:
    expected, expected_nested = git_listing(root)
    listed, nested = walk_listing(root)
    assert listed == expected, f"only git: {sorted(expected - listed)}; only the walk: {sorted(listed - expected)}"
    assert nested == expected_nested
    return listed


# --------------------------------------------------------------- hand-written


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository exercising most of gitignore's rules at once."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    write(
        root,
        {
            ".gitignore": "\n".join(
                [
                    "# comment",
                    "*.log",
                    "!keep.log",
                    "build/",
                    "/only-top.txt",
                    "docs/**/draft-*.md",
                    "**/cache",
                    "vendor/**",
                    "!vendor/keep/",
                    "!vendor/keep/**",
                    "\\#hash.txt",
                    "\\!bang.txt",
                    "trailing.txt   ",
                    "space\\ ",
                    "[abc]x.dat",
                    "*.py[cod]",
                    "dir-only/",
                    "excluded-dir/",
                    "!excluded-dir/reinclude.txt",
                    "a**/z.txt",
                    "",
                ]
            ),
            "keep.log": "kept by negation\n",
            "drop.log": "ignored\n",
            "src/app.py": "print(1)\n",
            "src/app.pyc": "compiled\n",
            "src/.gitignore": "!important.log\nlocal-*.txt\n/anchored.txt\n",
            "src/important.log": "re-included by a deeper negation\n",
            "src/local-x.txt": "ignored by src/.gitignore\n",
            "src/anchored.txt": "ignored: anchored to src/\n",
            "src/deeper/anchored.txt": "kept: the anchor is src/\n",
            "build/out.txt": "ignored dir\n",
            "src/build/out.txt": "ignored dir at any depth\n",
            "only-top.txt": "ignored\n",
            "src/only-top.txt": "kept: anchored pattern\n",
            "docs/a/b/draft-1.md": "ignored by **\n",
            "docs/final.md": "kept\n",
            "x/y/cache/data.txt": "ignored by **/cache\n",
            "vendor/lib.txt": "ignored by vendor/**\n",
            "vendor/keep/lib.txt": "re-included\n",
            "#hash.txt": "ignored (escaped #)\n",
            "!bang.txt": "ignored (escaped !)\n",
            "trailing.txt": "ignored (trailing spaces trimmed)\n",
            "space ": "ignored (escaped trailing space)\n",
            "ax.dat": "ignored by a bracket\n",
            "dx.dat": "kept\n",
            "dir-only": "a file, not matched by dir-only/\n",
            "excluded-dir/reinclude.txt": "stays excluded: its parent is excluded\n",
            "abc/z.txt": "ignored: git's a**/ quirk\n",
            "abc/d/z.txt": "ignored: the quirk goes deep\n",
            "tracked-but-ignored.log": "tracked, so listed\n",
            "info-excluded.txt": "ignored by info/exclude\n",
            "global-excluded.txt": "ignored by core.excludesFile\n",
        },
    )
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text("info-excluded.txt\n")
    excludes = tmp_path / "global-ignore"
    excludes.write_text("global-excluded.txt\n")
    git(root, "config", "core.excludesFile", str(excludes))
    git(root, "add", "-A")
    git(root, "add", "-f", "tracked-but-ignored.log", "vendor/lib.txt")
    git(root, "commit", "-qm", "init")
    write(root, {"untracked.txt": "new\n", "src/new.py": "new\n"})
    return root


def test_parity_with_git_on_a_repository_using_every_rule(repo: Path) -> None:
    listed = assert_parity(repo)
    # and the rules did something: spot-check the outcomes a user would notice
    for kept in (
        "keep.log",
        "src/important.log",
        "src/deeper/anchored.txt",
        "src/only-top.txt",
        "docs/final.md",
        "vendor/keep/lib.txt",
        "dx.dat",
        "dir-only",
        "tracked-but-ignored.log",
        "vendor/lib.txt",  # ignored but tracked
        "untracked.txt",
        "src/new.py",
        ".gitignore",
    ):
        assert kept in listed, kept
    for dropped in (
        "drop.log",
        "src/app.pyc",
        "src/local-x.txt",
        "src/anchored.txt",
        "build/out.txt",
        "src/build/out.txt",
        "only-top.txt",
        "docs/a/b/draft-1.md",
        "x/y/cache/data.txt",
        "#hash.txt",
        "!bang.txt",
        "trailing.txt",
        "space ",
        "ax.dat",
        "excluded-dir/reinclude.txt",
        "abc/z.txt",
        "abc/d/z.txt",
        "info-excluded.txt",
        "global-excluded.txt",
    ):
        assert dropped not in listed, dropped


def test_parity_when_the_root_is_a_subdirectory(repo: Path) -> None:
    # the parent's .gitignore, info/exclude and the global file still apply
    write(repo, {"src/x.log": "ignored by the top .gitignore\n", "src/deeper/build/o.txt": "x\n"})
    listed = assert_parity(repo / "src")
    assert "x.log" not in listed
    assert "deeper/build/o.txt" not in listed
    assert "app.py" in listed


def test_parity_when_git_excludes_the_root_itself(repo: Path) -> None:
    # build/ is excluded by the top .gitignore: from inside it, only tracked files count
    write(repo, {"build/tracked.txt": "tracked\n", "build/sub/untracked.txt": "x\n"})
    git(repo, "add", "-f", "build/tracked.txt")
    listed = assert_parity(repo / "build")
    assert listed == {"tracked.txt"}


def test_parity_with_nested_repositories_and_submodules(repo: Path, tmp_path: Path) -> None:
    nested = repo / "nested"
    nested.mkdir()
    git(nested, "init", "-q")
    write(nested, {"inner.txt": "inside another repository\n"})
    empty_git = repo / "fake"
    (empty_git / ".git").mkdir(parents=True)  # not a repository: git walks into it
    write(empty_git, {"file.txt": "listed\n"})

    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q")
    write(upstream, {"lib.txt": "submodule content\n"})
    git(upstream, "add", "-A")
    git(upstream, "commit", "-qm", "lib")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(upstream), "sub")
    git(repo, "commit", "-qm", "sub")

    listed = assert_parity(repo)
    assert "fake/file.txt" in listed
    assert "nested/inner.txt" not in listed
    skipped = {s.path: s for s in walk_source_files(repo, CONFIG).skipped}
    assert skipped["nested"].reason == "nested_repo"
    assert skipped["sub"].reason == "nested_repo"
    assert "submodule" in skipped["sub"].detail


def test_parity_with_symlinks_and_binaries(repo: Path) -> None:
    write(repo, {"img.png": "not really\n", "big.txt": "x" * 100})
    os.symlink("src/app.py", repo / "link.py")
    os.symlink("missing", repo / "broken")
    os.symlink("src", repo / "dirlink")
    with open(repo / "huge.bin.txt", "wb") as fh:
        fh.truncate(CONFIG.max_file_bytes + 1)
    listed = assert_parity(repo)
    assert {"img.png", "link.py", "broken", "dirlink", "huge.bin.txt"} <= listed


def test_parity_with_the_xdg_global_excludes_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_home = tmp_path / "xdg"
    (config_home / "git").mkdir(parents=True)
    (config_home / "git" / "ignore").write_text("*.secret\n!keep.secret\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    root = tmp_path / "repo"
    write(root, {"a.secret": "x\n", "keep.secret": "x\n", "b.txt": "x\n"})
    git(root, "init", "-q")
    assert assert_parity(root) == {"keep.secret", "b.txt"}


def test_parity_in_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    # a worktree has a .git file; info/exclude lives in the main repository's git dir
    other = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(other))
    write(other, {"info-excluded.txt": "x\n", "fresh.txt": "x\n", "z.log": "x\n"})
    listed = assert_parity(other)
    assert "fresh.txt" in listed and "info-excluded.txt" not in listed


def test_without_git_the_rules_still_apply(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exocortex.sources import git as git_discovery

    monkeypatch.setattr(git_discovery, "_git_executable", lambda: None)
    result = walk_source_files(repo, CONFIG)
    assert result.git  # the work tree is found on disk
    listed = {f.path for f in result.files}
    expected, _ = git_listing(repo)
    # Without git, what only git can tell is unknown: the tracked files (ignored but
    # tracked files go missing) and core.excludesFile (only the XDG default is read).
    assert expected - listed == {"tracked-but-ignored.log", "vendor/lib.txt"}
    assert listed - expected == {"global-excluded.txt"}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another user")
def test_a_repository_git_refuses_is_still_walked_with_its_rules(tmp_path: Path) -> None:
    root = tmp_path / "theirs"
    write(root, {".gitignore": "*.log\n", "a.log": "x\n", "b.txt": "x\n"})
    git(root, "init", "-q")
    for path in [root, *root.rglob("*")]:
        os.lchown(path, 65534, 65534)  # git now refuses: "dubious ownership"
    result = walk_source_files(root, CONFIG)
    assert result.git
    assert {f.path for f in result.files} == {".gitignore", "b.txt"}


# ------------------------------------------------------------ real projects


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def test_parity_on_real_installed_projects(tmp_path: Path) -> None:
    root = tmp_path / "real"
    root.mkdir()
    copied = 0
    for name in ("pathspec", "rich", "typer", "hypothesis"):
        src = _package_dir(name)
        if src is not None:
            shutil.copytree(src, root / name, symlinks=True)
            copied += 1
    assert copied, "none of exocortex's own dependencies could be found to copy"
    write(
        root,
        {
            ".gitignore": "__pycache__/\n*.py[cod]\n/rich/_*.py\n!/rich/__init__.py\n**/strategies/\n",
            "typer/.gitignore": "*.pyi\n!main.pyi\n",
        },
    )
    git(root, "init", "-q")
    # track part of it, including files the rules ignore, then change the tree
    tracked = sorted(p for p in root.rglob("*.py") if p.is_file())[::3]
    git(root, "add", "-f", *[str(p.relative_to(root)) for p in tracked[:400]])
    git(root, "commit", "-qm", "part")
    write(root, {"rich/new_untracked.py": "x = 1\n"})
    listed = assert_parity(root)
    assert len(listed) > 100
    assert not any("__pycache__" in p for p in listed)


def test_parity_on_this_repository() -> None:
    here = Path(__file__).resolve().parents[1]
    inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=here, capture_output=True, text=True)
    assert inside.stdout.strip() == "true", "the tests run from a git checkout of exocortex (make test)"
    listed = assert_parity(here)
    assert "src/exocortex/sources/files.py" in listed
    assert not any(p.startswith(".venv/") for p in listed)


# ------------------------------------------------------------ property-based

NAMES = ["a", "b", "ab", "a.txt", "b.log", "c.py", "d", "x y", "!n", "#h", "é.md", "[z]", "*", "-"]
PATTERNS = [
    "a",
    "b",
    "ab",
    "a.txt",
    "*.txt",
    "*.log",
    "a*",
    "*b",
    "?",
    "??",
    "[ab]",
    "[!a]*",
    "[a-c]*",
    "[[:alpha:]]",
    "[]a]",
    "*[!.]*",
    "/a",
    "/b",
    "a/b",
    "a/*",
    "/a/b",
    "a/",
    "b/",
    "*/",
    "d/",
    "**/a",
    "**/b/",
    "a/**",
    "a/**/b",
    "**/d/**",
    "**",
    "a**",
    "**a",
    "a**/b",
    "*.py",
    "\\!n",
    "\\#h",
    "é*",
    "?.md",
    "\\[z]",
    "x\\ y",
    "x y",
    "a ",
    "a\\ ",
    "[",
    "a\\",
    "[[:nope:]]",
    "**\\/a",
    "a\\/b",
    "/**/a",
    "***",
    "[/]",
    "a[/]b",
    "[+-0]*",
    "*/**/a",
    "d/**/*.txt",
    "[a-]",
    "[!-]",
    "[a-c-e]",
    "\\*",
    "/*",
    "/**",
    "a*/b*",
    "[^a]",
    "[é]*",
]


def _tree() -> st.SearchStrategy[list[tuple[str, ...]]]:
    path = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(tuple)
    return st.lists(path, min_size=1, max_size=14, unique=True)


def _ignore_files() -> st.SearchStrategy[dict[tuple[str, ...], list[str]]]:
    line = st.builds(lambda neg, p: ("!" if neg else "") + p, st.booleans(), st.sampled_from(PATTERNS))
    where = st.lists(st.sampled_from(NAMES[:4] + ["d"]), max_size=2).map(tuple)
    return st.dictionaries(where, st.lists(line, min_size=1, max_size=5), min_size=1, max_size=3)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=_tree(), ignores=_ignore_files(), tracked_every=st.integers(0, 3), exclude=st.booleans())
def test_random_trees_and_patterns_match_git(
    tree: list[tuple[str, ...]],
    ignores: dict[tuple[str, ...], list[str]],
    tracked_every: int,
    exclude: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        made: list[str] = []
        for parts in tree:
            path = root.joinpath(*parts)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.exists():
                    continue
                path.write_text("x\n")
            except (FileExistsError, NotADirectoryError):
                continue  # a file where a directory should be, or the reverse
            made.append("/".join(parts))
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        if tracked_every and made:
            subprocess.run(["git", "add", "-f", "--", *made[::tracked_every]], cwd=root, check=True)
        for where, lines in ignores.items():
            directory = root.joinpath(*where)
            try:
                directory.mkdir(parents=True, exist_ok=True)
                (directory / ".gitignore").write_text("\n".join(lines) + "\n")
            except (FileExistsError, NotADirectoryError):
                continue
        if exclude:
            (root / ".git" / "info").mkdir(exist_ok=True)
            (root / ".git" / "info" / "exclude").write_text("\n".join(ignores[next(iter(ignores))]))
        assert_parity(root)
        sub = root / tree[0][0]
        if sub.is_dir():
            assert_parity(sub)


# ------------------------------------------------------------------ parsing


def test_ignore_file_parsing_follows_git() -> None:
    data = b"\xef\xbb\xbf# comment\r\n\r\nfoo   \r\nbar\\ \n\\#lit\n  \n!neg\nbaz\\\\  \nnul\x00junk\n"
    assert parse_ignore_lines(data) == [b"", b"foo", b"bar\\ ", b"\\#lit", b"", b"!neg", b"baz\\\\", b"nul"]


def test_a_file_of_comments_compiles_to_nothing() -> None:
    assert compile_ignore_file(b"# only\n\n", b"", source="x", git=True) is None
    assert compile_ignore_file(b"[unclosed\n", b"", source="x", git=True) is None
