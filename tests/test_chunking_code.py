"""Structural chunking of source code (tree-sitter) on real-looking snippets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exocortex.chunking import FileAnalysis, analyze, language_for_path, split_lines
from exocortex.chunking.code import ParseTimeoutError, parse_tree

FIXTURES = Path(__file__).parent / "fixtures" / "code"
MARKERS = {"...", "// ...", "/* ... */"}


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def check_invariants(text: str, a: FileAnalysis, max_chunk_lines: int | None = None) -> None:
    """The contract every analysis honours, whatever the input."""
    lines = split_lines(text)
    assert "".join(lines) == text
    covered: set[int] = set()
    prev_end = 0
    for c in a.chunks:
        assert 0 < c.start_line <= c.end_line <= len(lines), c
        assert c.start_line > prev_end, "chunks overlap or are out of order"
        prev_end = c.end_line
        assert c.text == "".join(lines[c.start_line - 1 : c.end_line])
        assert c.text.strip(), "a chunk of blank lines only"
        if max_chunk_lines is not None:
            assert c.end_line - c.start_line + 1 <= max_chunk_lines
        covered.update(range(c.start_line, c.end_line + 1))
    for number, line in enumerate(lines, 1):
        if line.strip():
            assert number in covered, f"line {number} {line!r} is in no chunk"
    check_skeleton(text, a)
    for d in a.definitions:
        assert 0 < d.start_line <= d.end_line <= len(lines)
    assert list(a.references) == sorted(set(a.references))


def check_skeleton(text: str, a: FileAnalysis) -> None:
    """Skeleton = the listed original lines, verbatim and in order, plus marker lines."""
    lines = split_lines(text)
    sk_lines = a.skeleton.split("\n")
    if sk_lines and sk_lines[-1] == "":
        sk_lines.pop()
    wanted = [lines[r - 1].removesuffix("\n") for s, e in a.skeleton_lines for r in range(s, e + 1)]
    rows = [r for s, e in a.skeleton_lines for r in range(s, e + 1)]
    assert rows == sorted(set(rows)), "skeleton_lines must be ordered and disjoint"
    i = 0
    for got in sk_lines:
        if i < len(wanted) and got == wanted[i]:
            i += 1
        else:
            assert got.strip().strip("\r") in MARKERS, f"skeleton line {got!r} is neither original nor a marker"
    assert i == len(wanted), "not every skeleton_lines line is in the skeleton verbatim"


def assert_structural(path: str, text: str, a: FileAnalysis) -> None:
    """A code file is chunked structurally unless its grammar really gave up (time limit)."""
    if not a.structural:
        language = language_for_path(path)
        assert language is not None
        with pytest.raises(ParseTimeoutError):
            parse_tree(language, text.encode("utf-8", "surrogatepass"))


def table(a: FileAnalysis) -> list[tuple[int, int, str, str]]:
    return [(c.start_line, c.end_line, c.kind, c.symbol) for c in a.chunks]


def defs(a: FileAnalysis) -> dict[str, tuple[str, int, int, str]]:
    """Definitions by name (the first one where a name repeats, e.g. a Rust type and its impl)."""
    out: dict[str, tuple[str, int, int, str]] = {}
    for d in a.definitions:
        out.setdefault(d.name, (d.kind, d.start_line, d.end_line, d.signature))
    return out


# --- language detection --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a/b.py", "python"),
        ("stubs/x.pyi", "python"),
        ("x.JS", "javascript"),
        ("x.mjs", "javascript"),
        ("x.cjs", "javascript"),
        ("App.jsx", "javascript"),
        ("x.ts", "typescript"),
        ("x.mts", "typescript"),
        ("x.cts", "typescript"),
        ("App.tsx", "tsx"),
        ("main.go", "go"),
        ("lib.rs", "rust"),
        ("A.java", "java"),
        ("x.c", "c"),
        ("x.h", "c"),
        ("x.cc", "cpp"),
        ("x.cpp", "cpp"),
        ("x.cxx", "cpp"),
        ("x.hpp", "cpp"),
        ("x.hh", "cpp"),
        ("x.hxx", "cpp"),
        ("README.md", "markdown"),
        ("notes.markdown", "markdown"),
        ("Makefile", None),
        ("data.csv", None),
        (".bashrc", None),
    ],
)
def test_language_for_path(path: str, language: str | None) -> None:
    assert language_for_path(path) == language


# --- Python ----------------------------------------------------------------------------


def test_python_chunks() -> None:
    text = read("sample.py")
    a = analyze("pkg/queue.py", text)
    check_invariants(text, a)
    assert a.language == "python" and a.structural
    assert table(a) == [
        (1, 9, "module", ""),  # docstring, imports, constant
        (12, 17, "function", "connect"),  # the comment above joins the function
        (20, 26, "function", "fetch"),  # decorator included; nested _decode stays inside
        (29, 32, "class", "Queue"),  # header, docstring, class attribute
        (34, 36, "method", "Queue.__init__"),
        (38, 40, "method", "Queue.size"),
        (42, 42, "class", "Queue"),  # class-level line between methods
        (44, 44, "class", "Queue.Entry"),
        (45, 46, "method", "Queue.Entry.__init__"),
        (48, 49, "method", "Queue.Entry.render"),
        (52, 54, "module", ""),  # script code
    ]


def test_python_definitions_and_signatures() -> None:
    a = analyze("queue.py", read("sample.py"))
    d = defs(a)
    assert d["connect"] == (
        "function",
        12,
        17,
        'def connect(url: str, *, timeout: float = 5.0) -> "Connection":',
    )
    assert d["fetch"][3] == "async def fetch(conn, key):"
    assert d["Queue"][:3] == ("class", 29, 49)  # the full extent, all methods included
    assert d["Queue"][3] == "class Queue(OrderedDict):"
    assert d["Queue.size"] == ("method", 38, 40, "def size(self) -> int:")
    assert d["Queue.Entry.render"][0] == "method"
    assert "_decode" not in d and "fetch._decode" not in d  # nested functions are part of fetch


def test_python_skeleton() -> None:
    text = read("sample.py")
    a = analyze("queue.py", text)
    sk = a.skeleton
    for kept in (
        "import os.path",
        "from ..utils import retry as _retry, backoff",
        "MAX_RETRIES = 3",
        'def connect(url: str, *, timeout: float = 5.0) -> "Connection":',
        '    """Open a connection to the queue at url."""',
        "@_retry(times=MAX_RETRIES)",
        "async def fetch(conn, key):",
        "class Queue(OrderedDict):",
        "    default_timeout = 10",
        "    @property",
        "        def render(self):",  # nested class keeps its method signatures
    ):
        assert kept + "\n" in sk, kept
    assert "    ...\n" in sk and "            ...\n" in sk
    for body in ("conn.open(timeout=timeout)", "_decode(data)", "self.name = name", "os.path.join"):
        assert body not in sk
    # every elided body is one marker line
    assert sk.count("...\n") == 6  # connect, fetch, __init__, size, Entry.__init__, render


def test_python_references_and_imports() -> None:
    a = analyze("queue.py", read("sample.py"))
    for name in ("Connection", "open", "read", "OrderedDict", "len", "join", "print", "_retry", "backoff", "Queue"):
        assert name in a.references, name
    assert "def" not in a.references and "return" not in a.references
    assert a.imports == ("__future__", "os.path", "collections", "..utils")


def test_python_comment_and_decorator_join_definition() -> None:
    text = (
        "import os\n"
        "\n"
        "# Explains f.\n"
        "# More.\n"
        "@decorate\n"
        "@other(1)\n"
        "def f():\n"
        "    return 1\n"
        "x = 1  # trailing\n"
        "# about g\n"
        "def g():\n"
        "    pass\n"
    )
    a = analyze("m.py", text)
    check_invariants(text, a)
    assert table(a) == [
        (1, 1, "module", ""),
        (3, 8, "function", "f"),
        (9, 9, "module", ""),
        (10, 12, "function", "g"),
    ]


def test_python_definitions_under_if_and_try() -> None:
    text = (
        "import sys\n"
        "try:\n"
        "    import numpy as np\n"
        "except ImportError:\n"
        "    np = None\n"
        "\n"
        "if sys.version_info >= (3, 12):\n"
        "    def batched(it, n):\n"
        "        return it\n"
        "else:\n"
        "    def batched(it, n):\n"
        "        return list(it)\n"
    )
    a = analyze("compat.py", text)
    check_invariants(text, a)
    assert table(a) == [
        (1, 7, "module", ""),
        (8, 9, "function", "batched"),
        (10, 10, "module", ""),
        (11, 12, "function", "batched"),
    ]
    assert "numpy" in a.imports
    assert "else:\n" in a.skeleton and "except ImportError:\n" in a.skeleton
    assert "        return list(it)" not in a.skeleton


def test_python_crlf_line_endings_are_kept() -> None:
    text = "import os\r\n\r\ndef f(x):\r\n    return os.sep\r\n"
    a = analyze("w.py", text)
    check_invariants(text, a)
    assert table(a) == [(1, 1, "module", ""), (3, 4, "function", "f")]
    assert a.chunks[1].text == "def f(x):\r\n    return os.sep\r\n"
    assert a.definitions[0].signature == "def f(x):"


def test_python_multiline_signature_is_joined() -> None:
    text = "def f(\n    a: int,\n    b: str = 'x',\n) -> None:\n    # note\n    pass\n"
    a = analyze("s.py", text)
    assert a.definitions[0].signature == "def f(a: int, b: str = 'x',) -> None:"
    assert a.skeleton_lines[0] == (1, 4)
    assert "    # note" not in a.skeleton


# --- large definitions --------------------------------------------------------------------


def test_large_function_is_split_at_statement_boundaries() -> None:
    body = []
    for i in range(60):
        body += [f"    if x == {i}:", f"        y = compute({i})", f"        z = y * {i}", ""]
    text = "import math\n\n\ndef big(x):\n" + "\n".join(body) + "    return y\n\n\ndef small():\n    return 1\n"
    a = analyze("big.py", text, max_chunk_lines=50)
    check_invariants(text, a, max_chunk_lines=50)
    parts = [c for c in a.chunks if c.symbol == "big"]
    assert len(parts) >= 5
    assert all(c.kind == "function" for c in parts)
    assert parts[0].start_line == 4
    # consecutive parts, each starting on a statement of the function body
    for left, right in zip(parts, parts[1:], strict=False):
        assert right.start_line > left.end_line
        assert right.text.startswith("    if x == ") or right.text.startswith("    return")
    assert a.chunks[-1].symbol == "small"
    big = next(d for d in a.definitions if d.name == "big")
    assert (big.start_line, big.end_line) == (4, parts[-1].end_line)


def test_long_module_code_is_split() -> None:
    text = "".join(f"VALUE_{i} = {i}\n" for i in range(450))
    a = analyze("consts.py", text, max_chunk_lines=100)
    check_invariants(text, a, max_chunk_lines=100)
    assert {c.kind for c in a.chunks} == {"module"}
    assert len(a.chunks) == 5


# --- JavaScript / TypeScript ---------------------------------------------------------------


def test_javascript_chunks() -> None:
    text = read("sample.js")
    a = analyze("src/server.js", text)
    check_invariants(text, a)
    assert table(a) == [
        (1, 5, "module", ""),
        (7, 14, "function", "startServer"),  # JSDoc joins the exported function
        (16, 18, "function", "handler"),  # const handler = async () => {}
        (20, 21, "class", "Router"),  # header and field
        (23, 26, "method", "Router.constructor"),
        (28, 31, "method", "Router.add"),
        (33, 36, "method", "Router.create"),  # the class's closing brace joins its last method
        (38, 41, "function", "ids"),
        (43, 45, "function", "helper"),  # module.exports.helper = function
        (47, 47, "module", ""),
    ]
    d = defs(a)
    assert d["Router"][:3] == ("class", 20, 36)
    assert d["startServer"][3] == "function startServer(port = DEFAULT_PORT)"
    assert d["handler"][3] == "const handler = async (req, res) =>"


def test_javascript_skeleton_refs_imports() -> None:
    text = read("sample.js")
    a = analyze("server.js", text)
    check_skeleton(text, a)
    assert "export function startServer(port = DEFAULT_PORT) {\n  // ...\n}\n" in a.skeleton
    assert "  add(route, fn) {\n    // ...\n  }\n" in a.skeleton
    assert "this.routes.push" not in a.skeleton
    assert " * Start an HTTP server on the given port.\n" in a.skeleton
    for name in ("createServer", "listen", "push", "emit", "EventEmitter", "readFileSync", "join"):
        assert name in a.references
    assert a.imports == ("events", "./path.js", "fs")


def test_typescript_chunks() -> None:
    text = read("sample.ts")
    a = analyze("service.ts", text)
    check_invariants(text, a)
    assert table(a) == [
        (1, 2, "module", ""),
        (4, 7, "interface", "Options"),
        (9, 9, "type", "Handler"),
        (11, 14, "enum", "Level"),
        (16, 18, "class", "Service"),  # comment, header, field
        (20, 22, "method", "Service.constructor"),
        (24, 24, "class", "Service"),  # abstract signature between methods
        (26, 30, "method", "Service.dispose"),  # decorator joins the method
        (32, 36, "function", "makeHandler"),
        (38, 40, "function", "helper"),
    ]
    d = defs(a)
    assert d["Service"][0] == "class" and d["Service"][3] == "abstract class Service<T> implements Disposable"
    assert d["Handler"][3] == "type Handler = (req: Request) => Promise<void>;"
    assert "  host?: string;\n" in a.skeleton  # interface members are kept
    assert "  abstract run(input: T): Promise<void>;\n" in a.skeleton
    assert "util.release" not in a.skeleton
    assert {"Request", "Options", "release", "log", "Disposable"} <= set(a.references)
    assert a.imports == ("express", "../util")


def test_tsx_chunks() -> None:
    text = read("sample.tsx")
    a = analyze("Counter.tsx", text)
    check_invariants(text, a)
    assert a.language == "tsx"
    assert table(a) == [
        (1, 1, "module", ""),
        (3, 5, "interface", "Props"),
        (7, 14, "function", "Counter"),
        (16, 16, "function", "Label"),
    ]
    assert {"useState", "setCount", "Props"} <= set(a.references)
    assert a.imports == ("react",)


# --- Go -------------------------------------------------------------------------------------


def test_go_chunks_and_receivers() -> None:
    text = read("sample.go")
    a = analyze("server.go", text)
    check_invariants(text, a)
    assert table(a) == [
        (1, 9, "module", ""),
        (11, 15, "struct", "Server"),
        (17, 19, "interface", "Handler"),
        (21, 21, "type", "ID"),
        (23, 27, "method", "Server.Start"),  # pointer receiver stripped
        (29, 31, "method", "Server.String"),
        (33, 35, "function", "NewServer"),
    ]
    d = defs(a)
    assert d["Server.Start"][3] == "func (s *Server) Start(ctx context.Context) error"
    assert d["Server"][3] == "type Server struct"
    assert "\tconns map[string]*Conn\n" in a.skeleton  # struct fields are kept
    assert "func (s *Server) Start(ctx context.Context) error {\n\t// ...\n}\n" in a.skeleton
    assert {"Sprintf", "listen", "Info", "Context", "Conn", "make"} <= set(a.references)
    assert "string" not in a.references and "error" not in a.references
    assert a.imports == ("context", "fmt", "github.com/sirupsen/logrus")


# --- Rust -----------------------------------------------------------------------------------


def test_rust_chunks() -> None:
    text = read("sample.rs")
    a = analyze("lib.rs", text)
    check_invariants(text, a)
    assert table(a) == [
        (1, 4, "module", ""),
        (6, 10, "struct", "Cache"),  # doc comment and attribute join the struct
        (12, 15, "enum", "Slot"),
        (17, 18, "trait", "Store"),
        (20, 23, "method", "Store.has"),
        (25, 25, "impl", "Cache"),
        (26, 28, "method", "Cache.new"),
        (30, 33, "method", "Cache.insert"),
        (35, 35, "impl", "Slot"),  # impl Display for Slot
        (36, 39, "method", "Slot.fmt"),
        (41, 44, "function", "parse"),
        (46, 47, "module", "tests"),
        (49, 52, "function", "tests.check"),
    ]
    d = defs(a)
    assert d["Cache"] == ("struct", 6, 10, "pub struct Cache<T>")
    impls = [(x.name, x.start_line, x.end_line, x.signature) for x in a.definitions if x.kind == "impl"]
    assert impls == [("Cache", 25, 33, "impl<T: Clone> Cache<T>"), ("Slot", 35, 39, "impl Display for Slot")]
    assert d["Cache.insert"][3] == "pub fn insert(&mut self, key: String, value: T)"
    assert "    fn get(&self, key: &str) -> Option<u32>;\n" in a.skeleton
    assert "self.items.insert" not in a.skeleton
    assert {"HashMap", "insert", "map_err", "format", "Full", "Slot"} <= set(a.references)
    assert "self" not in a.references and "Self" not in a.references
    assert a.imports == ("std::collections::HashMap", "std::fmt", "super")


# --- Java -----------------------------------------------------------------------------------


def test_java_chunks() -> None:
    text = read("Sample.java")
    a = analyze("Repository.java", text)
    check_invariants(text, a)
    assert table(a) == [
        (1, 5, "module", ""),
        (7, 11, "class", "Repository"),  # Javadoc, header, field
        (13, 15, "method", "Repository.Repository"),  # constructor
        (17, 20, "method", "Repository.iterator"),  # annotation included
        (22, 24, "method", "Repository.add"),
        (26, 29, "interface", "Repository.Listener"),
        (31, 32, "enum", "Color"),
        (34, 37, "method", "Color.next"),
        (39, 39, "class", "Point"),  # record
        (40, 43, "method", "Point.Point"),
    ]
    d = defs(a)
    assert d["Repository.iterator"][3] == "@Override public Iterator<T> iterator()"
    assert "    void onAdd(Object item);" in a.skeleton
    assert "items.iterator()" not in a.skeleton
    assert {"requireNonNull", "ArrayList", "iterator", "ordinal", "Base", "Iterable"} <= set(a.references)
    assert a.imports == ("java.util.List", "java.util.ArrayList", "java.util.Objects.requireNonNull")


# --- C / C++ ----------------------------------------------------------------------------------


def test_c_chunks() -> None:
    text = read("sample.c")
    a = analyze("list.c", text)
    check_invariants(text, a)
    assert table(a) == [
        (1, 4, "module", ""),
        (6, 9, "struct", "point_t"),  # typedef struct { ... } point_t;
        (11, 14, "struct", "node"),
        (16, 16, "enum", "color"),
        (18, 18, "type", "ulong"),
        (20, 26, "function", "sum"),  # block comment joins
        (28, 34, "function", "copy_name"),
        (36, 39, "function", "main"),
    ]
    d = defs(a)
    assert d["copy_name"][3] == "char * copy_name(const char *src)"
    assert "} point_t;\n" in a.skeleton
    assert "char *\ncopy_name(const char *src)\n{\n    /* ... */\n}\n" in a.skeleton
    assert "strcpy" not in a.skeleton
    assert {"malloc", "strcpy", "strlen", "printf", "sum"} <= set(a.references)
    assert a.imports == ("stdio.h", "util.h")


def test_cpp_chunks_and_qualified_names() -> None:
    text = read("sample.cpp")
    a = analyze("shape.cpp", text)
    check_invariants(text, a)
    assert table(a) == [
        (1, 2, "module", ""),
        (4, 4, "module", "geo"),  # namespace header
        (6, 10, "class", "geo.Shape"),
        (12, 14, "method", "geo.Shape.scaled"),
        (16, 18, "class", "geo.Shape"),  # private: section and closing brace
        (20, 21, "struct", "geo.Circle"),
        (22, 23, "method", "geo.Circle.area"),
        (25, 30, "function", "geo.clamp"),  # template; the namespace's closing line joins it
        (32, 34, "method", "geo.Shape.perimeter"),  # defined out of class
        (36, 40, "function", "main"),
    ]
    d = defs(a)
    assert d["geo"][:3] == ("module", 4, 30)
    assert d["geo.Shape"][:3] == ("class", 6, 18)
    assert "    virtual double area() const = 0;\n" in a.skeleton
    assert "template <typename T>\n" in a.skeleton
    assert {"push_back", "min", "max", "area", "Circle"} <= set(a.references)
    assert a.imports == ("vector", "shape.hpp")


def test_cpp_out_of_class_method_name() -> None:
    text = "#include <string>\n\nvoid Foo::bar(int x) {\n  baz(x);\n}\n"
    a = analyze("foo.cc", text)
    check_invariants(text, a)
    assert table(a) == [(1, 1, "module", ""), (3, 5, "method", "Foo.bar")]
    assert a.imports == ("string",)


# --- robustness ---------------------------------------------------------------------------------

CODE_FILES = ["x.py", "x.js", "x.ts", "x.tsx", "x.go", "x.rs", "x.java", "x.c", "x.cpp"]


@pytest.mark.parametrize("path", CODE_FILES)
@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n   \n",
        "\x00\x00garbage\x00\n\x00",
        "def (((( {{{{ class ]]]] \n" * 20,
        "x" * 200_000,
        "\ud800\udcff lone surrogates \udc80\n",
        "a\rb\rc\n\x0c\n\x1c\u2028end",
        "}}}}\n{{{{\n" * 50,
    ],
)
def test_never_raises_on_bad_input(path: str, text: str) -> None:
    a = analyze(path, text)
    check_invariants(text, a)
    assert a.structural  # tree-sitter tolerates anything: no fallback needed


def test_grammar_that_loops_is_cut_off_and_falls_back_to_windows() -> None:
    """tree-sitter-typescript's TSX grammar loops (and eats memory) on this string."""
    text = 't>[tse a>e<class *t""[t l static :\u00e9=f*n t \n'
    a = analyze("bad.tsx", text)
    assert a.language == "tsx" and not a.structural
    check_invariants(text, a)
    assert [c.kind for c in a.chunks] == ["window"]
    # the parser is usable again afterwards
    good = analyze("good.tsx", "export const a = () => 1;\n")
    assert good.structural and good.chunks[0].symbol == "a"


@pytest.mark.parametrize(
    "name",
    [
        "sample.py",
        "sample.js",
        "sample.ts",
        "sample.tsx",
        "sample.go",
        "sample.rs",
        "Sample.java",
        "sample.c",
        "sample.cpp",
    ],
)
def test_fixture_invariants_with_small_chunks(name: str) -> None:
    text = read(name)
    for size in (1, 2, 3, 7):
        a = analyze(name, text, max_chunk_lines=size)
        check_invariants(text, a, max_chunk_lines=size)


# --- property-based -----------------------------------------------------------------------------

_TOKENS = [
    "def ",
    "class ",
    "async ",
    "fn ",
    "func ",
    "function ",
    "impl ",
    "struct ",
    "enum ",
    "trait ",
    "interface ",
    "namespace ",
    "template <class T> ",
    "typedef ",
    "return ",
    "import ",
    "from ",
    "#include <a.h>",
    "use a::b;",
    "export ",
    "const ",
    "let ",
    "pub ",
    "public ",
    "static ",
    "@dec",
    "# c",
    "// c",
    "/* c */",
    "/**",
    "*/",
    '"""',
    "'",
    '"',
    "`",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ":",
    ";",
    ",",
    ".",
    "=",
    "=>",
    "->",
    "::",
    "<",
    ">",
    "*",
    "&",
    "\n",
    "\n",
    "\n",
    "    ",
    "\t",
    " ",
    "\r\n",
    "\x00",
    "é",
    "\u2028",
    "Foo",
    "bar",
    "self",
    "x",
    "1",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(CODE_FILES),
    pieces=st.lists(st.sampled_from(_TOKENS), max_size=120),
    size=st.integers(min_value=1, max_value=12),
)
def test_random_code_keeps_invariants(path: str, pieces: list[str], size: int) -> None:
    text = "".join(pieces)
    a = analyze(path, text, max_chunk_lines=size)
    assert_structural(path, text, a)
    check_invariants(text, a, max_chunk_lines=size)


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(CODE_FILES), text=st.text(max_size=400))
def test_random_unicode_keeps_invariants(path: str, text: str) -> None:
    a = analyze(path, text)
    check_invariants(text, a)


_FIXTURE_FOR = {
    "sample.py": "x.py",
    "sample.js": "x.js",
    "sample.ts": "x.ts",
    "sample.tsx": "x.tsx",
    "sample.go": "x.go",
    "sample.rs": "x.rs",
    "Sample.java": "x.java",
    "sample.c": "x.c",
    "sample.cpp": "x.cpp",
}


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(_FIXTURE_FOR)),
    edits=st.lists(
        st.tuples(st.floats(min_value=0, max_value=1), st.integers(0, 40), st.sampled_from(_TOKENS)),
        max_size=6,
    ),
    size=st.integers(min_value=2, max_value=30),
)
def test_mutated_fixtures_keep_invariants(name: str, edits: list[tuple[float, int, str]], size: int) -> None:
    """Real code with random deletions and insertions: the chunker degrades, never breaks."""
    text = read(name)
    for where, cut, insert in edits:
        at = int(where * len(text))
        text = text[:at] + insert + text[at + cut :]
    a = analyze(_FIXTURE_FOR[name], text, max_chunk_lines=size)
    assert_structural(_FIXTURE_FOR[name], text, a)
    check_invariants(text, a, max_chunk_lines=size)


def test_threads_share_nothing_mutable() -> None:
    """Parsers are per thread: concurrent analyses give the same results as serial ones."""
    from concurrent.futures import ThreadPoolExecutor

    names = sorted(_FIXTURE_FOR) * 4
    serial = [analyze(n, read(n)) for n in names]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda n: analyze(n, read(n)), names))
    assert threaded == serial


def test_minified_line_stays_out_of_the_skeleton() -> None:
    body = ";".join(f"var a{i}=f({i})" for i in range(2000))
    text = f"import x from './x.js';\n!function(){{{body}}}();\n"
    a = analyze("bundle.min.js", text)
    check_invariants(text, a)
    assert a.skeleton == "import x from './x.js';\n"
    assert [c.end_line for c in a.chunks] == [2]  # a line is never split


def test_parsing_keeps_no_reference_to_the_source() -> None:
    # tree-sitter 0.26's binding leaks what a read callback returns: a source handed to it directly
    # (or a view of it) would stay in memory for the life of the process, file after file.
    import sys

    src = ("def f(x):\n    return x + 1\n\n" * 2000).encode()
    before = sys.getrefcount(src)
    for _ in range(5):
        assert parse_tree("python", src).root_node.child_count == 2000
    assert sys.getrefcount(src) == before
