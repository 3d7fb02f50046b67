"""Per-language knowledge for the tree-sitter chunker.

Each language gets a ``LanguageSpec``: how to load its grammar, how to classify
the direct children of a file or of a class-like body (definition, import,
comment, plain statement, or a transparent frame such as ``if TYPE_CHECKING:``
or ``#ifdef`` whose children are walked as if they were at the outer level),
which lines may be attached above a definition, the skeleton's elision marker,
and one tree-sitter query that captures references (``@ref``) and imports
(``@import``) in a single pass.

Naming: a definition's name is qualified with the names of the class-like
definitions around it, joined with "." in every language ("Foo.bar",
"geo.Shape.area", "Cache.insert" for a method in ``impl Cache``, "Server.Start"
for a Go method on ``*Server``).
"""

from __future__ import annotations

import keyword
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tree_sitter import Language, Node, Parser, Query

# Classification results other than a definition.
STMT = 0
IMPORT = 1
COMMENT = 2
FRAME = 3


@dataclass(slots=True)
class Def:
    """A definition found among the children of a file or class-like body."""

    kind: str
    name: str
    extent: Node  # the whole definition, wrappers (decorators, export, template) included
    inner: Node  # the definition itself; its text up to the body is the signature
    body: Node | None  # the body; the header ends where it begins
    members: Node | None  # for class-like definitions, the node whose children are members
    body_start: int = -1  # byte where the header ends, when it is not body.start_byte


Classified = Def | tuple[int, list[Node]] | int
Classifier = Callable[[Node, str, str | None, str, bytes], Classified]

_THREAD = threading.local()

# Kinds whose functions are methods.
CLASSLIKE = frozenset({"class", "struct", "interface", "enum", "trait", "impl"})


@dataclass(slots=True)
class LanguageSpec:
    name: str
    load: Callable[[], Any]
    classify: Classifier
    comment_types: frozenset[str]
    attach_prefixes: tuple[str, ...]  # a line directly above a definition starting so joins it
    block_comments: bool  # "/* ... */" comments join a definition too
    marker: str  # the skeleton line that stands for an elided body
    brace: bool  # the header's last line is the line where the body starts
    query_src: str
    keywords: frozenset[str]
    python_docstrings: bool = False
    _language: Language | None = field(default=None, repr=False)
    _query: Query | None = field(default=None, repr=False)

    def language(self) -> Language:
        if self._language is None:
            self._language = Language(self.load())
        return self._language

    def parser(self) -> Parser:
        """This thread's parser for the language (a Parser must not be shared by threads)."""
        parsers: dict[str, Parser] | None = getattr(_THREAD, "parsers", None)
        if parsers is None:
            parsers = _THREAD.parsers = {}
        parser = parsers.get(self.name)
        if parser is None:
            parser = parsers[self.name] = Parser(self.language())
        return parser

    def query(self) -> Query:
        """The compiled reference/import query (read-only, so shared by threads)."""
        if self._query is None:
            self._query = Query(self.language(), self.query_src)
        return self._query


def first_named(node: Node) -> Node | None:
    """The first named child, or None (``Node.named_child`` raises on a bad index)."""
    return node.named_child(0) if node.named_child_count else None


def text_of(node: Node, src: bytes) -> str:
    """The node's source text. (``Node.text`` is not safe on trees parsed through a
    read callback, which is how ``parse_tree`` parses.)"""
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _name(node: Node, src: bytes, fieldname: str = "name") -> str:
    child = node.child_by_field_name(fieldname)
    return text_of(child, src) if child is not None else ""


def _func_kind(parent_kind: str | None) -> str:
    return "method" if parent_kind in CLASSLIKE else "function"


def _frame_children(node: Node) -> list[Node]:
    """Named children of a frame, leaving out its condition or name."""
    out = []
    for i, child in enumerate(node.children):
        if child.is_named and node.field_name_for_child(i) not in ("condition", "name"):
            out.append(child)
    return out


# --- Python --------------------------------------------------------------------

_PY_FRAMES = frozenset(
    {
        "if_statement",
        "elif_clause",
        "else_clause",
        "try_statement",
        "except_clause",
        "except_group_clause",
        "finally_clause",
        "with_statement",
        "block",
        "ERROR",
    }
)
_PY_IMPORTS = frozenset({"import_statement", "import_from_statement", "future_import_statement"})


def _classify_python(node: Node, t: str, parent_kind: str | None, parent_name: str, src: bytes) -> Classified:
    if t == "function_definition":
        body = node.child_by_field_name("body")
        return Def(_func_kind(parent_kind), _name(node, src), node, node, body, None)
    if t == "class_definition":
        body = node.child_by_field_name("body")
        return Def("class", _name(node, src), node, node, body, body)
    if t == "decorated_definition":
        inner = node.child_by_field_name("definition")
        if inner is not None:
            got = _classify_python(inner, inner.type, parent_kind, parent_name, src)
            if isinstance(got, Def):
                got.extent = node
                return got
        return STMT
    if t in _PY_IMPORTS:
        return IMPORT
    if t in _PY_FRAMES:
        return (FRAME, _frame_children(node))
    return STMT


PY_QUERY = """
(call function: (identifier) @ref)
(call function: (attribute attribute: (identifier) @ref))
(class_definition superclasses: (argument_list (identifier) @ref))
(class_definition superclasses: (argument_list (attribute attribute: (identifier) @ref)))
(decorator (identifier) @ref)
(decorator (attribute attribute: (identifier) @ref))
(type (identifier) @ref)
(type (attribute attribute: (identifier) @ref))
(generic_type (identifier) @ref)
(import_from_statement name: (dotted_name (identifier) @ref .))
(import_from_statement name: (aliased_import name: (dotted_name (identifier) @ref .)))
(import_statement name: (dotted_name) @import)
(import_statement name: (aliased_import name: (dotted_name) @import))
(import_from_statement module_name: (_) @import)
(future_import_statement "__future__" @import)
"""

# --- JavaScript / TypeScript ------------------------------------------------------

_JS_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_JS_CLASS_VALUES = frozenset({"class", "class_expression"})


def _js_assigned_name(left: Node, src: bytes) -> str:
    name = text_of(left, src)
    for prefix in ("module.exports.", "exports.", "this."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name.replace(".prototype.", ".")


def _js_value_def(name: str, extent: Node, value: Node) -> Classified:
    if value.type in _JS_FUNCTION_VALUES:
        return Def("function", name, extent, extent, value.child_by_field_name("body"), None)
    if value.type in _JS_CLASS_VALUES:
        body = value.child_by_field_name("body")
        return Def("class", name, extent, extent, body, body)
    return STMT


def _classify_js(node: Node, t: str, parent_kind: str | None, parent_name: str, src: bytes) -> Classified:
    if t in ("function_declaration", "generator_function_declaration"):
        return Def("function", _name(node, src), node, node, node.child_by_field_name("body"), None)
    if t in ("class_declaration", "abstract_class_declaration", "class"):
        body = node.child_by_field_name("body")
        return Def("class", _name(node, src), node, node, body, body)
    if t == "method_definition":
        return Def(_func_kind(parent_kind), _name(node, src), node, node, node.child_by_field_name("body"), None)
    if t == "interface_declaration":
        body = node.child_by_field_name("body")
        return Def("interface", _name(node, src), node, node, body, body)
    if t == "enum_declaration":
        body = node.child_by_field_name("body")
        return Def("enum", _name(node, src), node, node, body, body)
    if t == "type_alias_declaration":
        return Def("type", _name(node, src), node, node, None, None)
    if t in ("internal_module", "module"):
        body = node.child_by_field_name("body")
        if body is None:
            return STMT
        name = _name(node, src).strip("\"'`")
        return Def("module", name, node, node, body, body)
    if t in ("lexical_declaration", "variable_declaration"):
        declarators = [c for c in node.named_children if c.type == "variable_declarator"]
        if len(declarators) == 1:
            value = declarators[0].child_by_field_name("value")
            if value is not None:
                return _js_value_def(_name(declarators[0], src), node, value)
        return STMT
    if t == "export_statement":
        decl = node.child_by_field_name("declaration")
        if decl is not None:
            got = _classify_js(decl, decl.type, parent_kind, parent_name, src)
            if isinstance(got, Def):
                got.extent = node
            return got
        value = node.child_by_field_name("value")
        if value is not None:
            got = _js_value_def("default", node, value)
            if isinstance(got, Def) and value.type in _JS_CLASS_VALUES | {"function_expression"}:
                named = value.child_by_field_name("name")
                if named is not None:
                    got.name = text_of(named, src)
            return got
        return IMPORT if node.child_by_field_name("source") is not None else STMT
    if t == "expression_statement":
        expr = first_named(node)
        if expr is None:
            return STMT
        if expr.type == "assignment_expression":
            left = expr.child_by_field_name("left")
            right = expr.child_by_field_name("right")
            if left is not None and right is not None and left.type in ("identifier", "member_expression"):
                return _js_value_def(_js_assigned_name(left, src), node, right)
        elif expr.type == "internal_module":
            got = _classify_js(expr, expr.type, parent_kind, parent_name, src)
            if isinstance(got, Def):
                got.extent = node
            return got
        return STMT
    if t == "ambient_declaration":
        inner = first_named(node)
        if inner is not None and inner.type in (
            "module",
            "internal_module",
            "class_declaration",
            "interface_declaration",
            "enum_declaration",
            "abstract_class_declaration",
        ):
            got = _classify_js(inner, inner.type, parent_kind, parent_name, src)
            if isinstance(got, Def):
                got.extent = node
            return got
        return STMT
    if t == "import_statement":
        return IMPORT
    if t == "ERROR":
        return (FRAME, _frame_children(node))
    return STMT


_JS_REFS = """
(call_expression function: (identifier) @ref)
(call_expression function: (member_expression property: (property_identifier) @ref))
(new_expression constructor: (identifier) @ref)
(new_expression constructor: (member_expression property: (property_identifier) @ref))
(class_heritage (identifier) @ref)
(class_heritage (member_expression property: (property_identifier) @ref))
(jsx_opening_element name: (identifier) @ref)
(jsx_self_closing_element name: (identifier) @ref)
(import_specifier name: (identifier) @ref)
(import_statement source: (string (string_fragment) @import))
(export_statement source: (string (string_fragment) @import))
(call_expression function: (identifier) arguments: (arguments . (string (string_fragment)))) @require
(call_expression function: (import) arguments: (arguments . (string (string_fragment) @import)))
"""
JS_QUERY = _JS_REFS
TS_QUERY = (
    _JS_REFS.replace("(class_heritage (identifier) @ref)\n", "").replace(
        "(class_heritage (member_expression property: (property_identifier) @ref))\n", ""
    )
    + """
(extends_clause value: (identifier) @ref)
(extends_clause value: (member_expression property: (property_identifier) @ref))
(type_identifier) @ref
"""
)
TSX_QUERY = TS_QUERY
TS_QUERY = TS_QUERY.replace("(jsx_opening_element name: (identifier) @ref)\n", "").replace(
    "(jsx_self_closing_element name: (identifier) @ref)\n", ""
)

# --- Go ----------------------------------------------------------------------------

_GO_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _go_receiver_type(method: Node, src: bytes) -> str:
    receiver = method.child_by_field_name("receiver")
    if receiver is None:
        return ""
    for param in receiver.named_children:
        if param.type == "parameter_declaration":
            ty = param.child_by_field_name("type")
            if ty is not None:
                raw = text_of(ty, src).lstrip("*( ").split("[", 1)[0]
                names = _GO_TYPE_NAME.findall(raw)
                return names[-1] if names else ""
    return ""


def _go_type_spec(spec: Node, extent: Node, src: bytes) -> Classified:
    ty = spec.child_by_field_name("type")
    name = _name(spec, src)
    if ty is not None and ty.type == "struct_type":
        fields = next((c for c in ty.named_children if c.type == "field_declaration_list"), None)
        return Def("struct", name, extent, extent, fields, fields)
    if ty is not None and ty.type == "interface_type":
        brace = next((c for c in ty.children if c.type == "{"), None)
        return Def("interface", name, extent, extent, ty, ty, brace.start_byte if brace is not None else -1)
    return Def("type", name, extent, extent, None, None)


def _classify_go(node: Node, t: str, parent_kind: str | None, parent_name: str, src: bytes) -> Classified:
    if t == "function_declaration":
        return Def("function", _name(node, src), node, node, node.child_by_field_name("body"), None)
    if t == "method_declaration":
        recv = _go_receiver_type(node, src)
        name = f"{recv}.{_name(node, src)}" if recv else _name(node, src)
        return Def("method", name, node, node, node.child_by_field_name("body"), None)
    if t == "type_declaration":
        specs = [c for c in node.named_children if c.type in ("type_spec", "type_alias")]
        if len(specs) == 1:
            return _go_type_spec(specs[0], node, src)
        return (FRAME, specs)
    if t in ("type_spec", "type_alias"):
        return _go_type_spec(node, node, src)
    if t == "import_declaration":
        return IMPORT
    if t == "ERROR":
        return (FRAME, _frame_children(node))
    return STMT


GO_QUERY = """
(call_expression function: (identifier) @ref)
(call_expression function: (selector_expression field: (field_identifier) @ref))
(type_identifier) @ref
(import_spec path: (_) @import)
"""

# --- Rust ----------------------------------------------------------------------------

_RUST_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _rust_type_name(node: Node | None, src: bytes) -> str:
    if node is None:
        return ""
    raw = text_of(node, src).split("<", 1)[0]
    names = [n for n in _RUST_IDENT.findall(raw) if n not in ("mut", "dyn", "const")]
    return names[-1] if names else ""


def _classify_rust(node: Node, t: str, parent_kind: str | None, parent_name: str, src: bytes) -> Classified:
    if t == "function_item":
        return Def(_func_kind(parent_kind), _name(node, src), node, node, node.child_by_field_name("body"), None)
    if t in ("struct_item", "union_item", "enum_item", "trait_item"):
        body = node.child_by_field_name("body")
        kind = {"enum_item": "enum", "trait_item": "trait"}.get(t, "struct")
        return Def(kind, _name(node, src), node, node, body, body)
    if t == "impl_item":
        body = node.child_by_field_name("body")
        name = _rust_type_name(node.child_by_field_name("type"), src)
        return Def("impl", name, node, node, body, body)
    if t == "mod_item":
        body = node.child_by_field_name("body")
        if body is None:
            return IMPORT
        return Def("module", _name(node, src), node, node, body, body)
    if t == "type_item":
        return Def("type", _name(node, src), node, node, None, None)
    if t in ("use_declaration", "extern_crate_declaration"):
        return IMPORT
    if t == "ERROR":
        return (FRAME, _frame_children(node))
    return STMT


RUST_QUERY = """
(call_expression function: (identifier) @ref)
(call_expression function: (field_expression field: (field_identifier) @ref))
(call_expression function: (scoped_identifier name: (identifier) @ref))
(call_expression function: (scoped_identifier path: (identifier) @ref))
(struct_expression name: (type_identifier) @ref)
(macro_invocation macro: (identifier) @ref)
(type_identifier) @ref
(use_declaration argument: (_) @import)
(extern_crate_declaration name: (identifier) @import)
(mod_item !body name: (identifier) @import)
"""

# --- Java ------------------------------------------------------------------------------

_JAVA_TYPES = {
    "class_declaration": "class",
    "record_declaration": "class",
    "interface_declaration": "interface",
    "annotation_type_declaration": "interface",
    "enum_declaration": "enum",
}


def _classify_java(node: Node, t: str, parent_kind: str | None, parent_name: str, src: bytes) -> Classified:
    kind = _JAVA_TYPES.get(t)
    if kind is not None:
        body = node.child_by_field_name("body")
        return Def(kind, _name(node, src), node, node, body, body)
    if t in ("method_declaration", "constructor_declaration", "compact_constructor_declaration"):
        body = node.child_by_field_name("body")
        if body is None:
            return STMT
        name = _name(node, src) or parent_name
        return Def(_func_kind(parent_kind), name, node, node, body, None)
    if t in ("import_declaration",):
        return IMPORT
    if t in ("enum_body_declarations", "ERROR"):
        return (FRAME, _frame_children(node))
    return STMT


JAVA_QUERY = """
(method_invocation name: (identifier) @ref)
(object_creation_expression type: (type_identifier) @ref)
(type_identifier) @ref
(import_declaration) @import
"""

# --- C / C++ -----------------------------------------------------------------------------

_C_NAME_TYPES = frozenset({"identifier", "field_identifier", "type_identifier", "destructor_name", "operator_name"})
_C_TEMPLATE_ARGS = re.compile(r"<[^<>]*>")


def c_qualified(raw: str) -> str:
    """``geo::Shape<T>::area`` -> ``geo.Shape.area``."""
    prev = None
    while prev != raw and "<" in raw:
        prev, raw = raw, _C_TEMPLATE_ARGS.sub("", raw)
    return ".".join(p.strip() for p in raw.strip(":").split("::") if p.strip())


def _c_declarator_name(node: Node | None, src: bytes) -> str:
    for _ in range(32):
        if node is None:
            return ""
        t = node.type
        if t in _C_NAME_TYPES:
            return text_of(node, src)
        if t == "qualified_identifier":
            return c_qualified(text_of(node, src))
        if t == "operator_cast":
            return text_of(node, src).split("(", 1)[0].strip()
        if t == "template_function":
            node = node.child_by_field_name("name")
            continue
        nxt = node.child_by_field_name("declarator")
        if nxt is None and t == "parenthesized_declarator":
            nxt = first_named(node)
        node = nxt
    return ""


_C_SPECIFIERS = {
    "struct_specifier": "struct",
    "union_specifier": "struct",
    "class_specifier": "class",
    "enum_specifier": "enum",
}
_C_FRAMES = frozenset(
    {
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
        "declaration_list",
        "ERROR",
    }
)


def _c_specifier_def(spec: Node, extent: Node, name: str) -> Classified:
    body = spec.child_by_field_name("body")
    if body is None or not name:
        return STMT
    return Def(_C_SPECIFIERS[spec.type], name, extent, extent, body, body)


def _classify_c(node: Node, t: str, parent_kind: str | None, parent_name: str, src: bytes) -> Classified:
    if t == "function_definition":
        body = node.child_by_field_name("body")
        name = _c_declarator_name(node.child_by_field_name("declarator"), src)
        if body is None or not name:
            return STMT
        kind = "method" if "." in name else _func_kind(parent_kind)
        return Def(kind, name, node, node, body, None)
    if t in _C_SPECIFIERS:
        return _c_specifier_def(node, node, _name(node, src))
    if t == "type_definition":
        ty = node.child_by_field_name("type")
        name = _c_declarator_name(node.child_by_field_name("declarator"), src)
        if not name:
            return STMT
        if ty is not None and ty.type in _C_SPECIFIERS and ty.child_by_field_name("body") is not None:
            return _c_specifier_def(ty, node, name)
        return Def("type", name, node, node, None, None)
    if t in ("declaration", "field_declaration"):
        ty = node.child_by_field_name("type")
        if ty is not None and ty.type in _C_SPECIFIERS:
            return _c_specifier_def(ty, node, _name(ty, src))
        return STMT
    if t == "alias_declaration":
        return Def("type", _name(node, src), node, node, None, None)
    if t == "namespace_definition":
        body = node.child_by_field_name("body")
        name = c_qualified(_name(node, src))
        if body is None:
            return STMT
        if not name:
            return (FRAME, [body])
        return Def("module", name, node, node, body, body)
    if t == "template_declaration":
        inner = None
        for child in node.named_children:
            if child.type not in ("template_parameter_list", "comment"):
                inner = child
        if inner is not None:
            got = _classify_c(inner, inner.type, parent_kind, parent_name, src)
            if isinstance(got, Def):
                got.extent = node
                return got
        return STMT
    if t == "linkage_specification":
        body = node.child_by_field_name("body")
        if body is not None and body.type == "declaration_list":
            return (FRAME, [body])
        if body is not None:
            got = _classify_c(body, body.type, parent_kind, parent_name, src)
            if isinstance(got, Def):
                got.extent = node
            return got
        return STMT
    if t == "preproc_include":
        return IMPORT
    if t in _C_FRAMES:
        return (FRAME, _frame_children(node))
    return STMT


C_QUERY = """
(call_expression function: (identifier) @ref)
(call_expression function: (field_expression field: (field_identifier) @ref))
(type_identifier) @ref
(preproc_include path: (_) @import)
"""
CPP_QUERY = (
    C_QUERY
    + """
(call_expression function: (qualified_identifier name: (identifier) @ref))
(call_expression function: (template_function name: (identifier) @ref))
(call_expression function: (qualified_identifier name: (template_function name: (identifier) @ref)))
(call_expression function: (field_expression field: (template_method name: (field_identifier) @ref)))
"""
)

# --- keywords ------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_C_KEYWORDS = _words(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while bool true false NULL"
)
_CPP_KEYWORDS = _C_KEYWORDS | _words(
    "alignas alignof and asm catch class constexpr consteval constinit decltype delete explicit "
    "export friend mutable namespace new noexcept not nullptr operator or private protected "
    "public static_assert template this throw try typeid typename using virtual override final "
    "co_await co_return co_yield concept requires"
)
_JS_KEYWORDS = _words(
    "break case catch class const continue debugger default delete do else export extends false "
    "finally for function if import in instanceof let new null return super switch this throw "
    "true try typeof var void while with yield async await static get set of undefined"
)
_TS_KEYWORDS = _JS_KEYWORDS | _words(
    "abstract any as asserts boolean declare enum implements interface is keyof namespace never "
    "number object private protected public readonly string symbol type unique unknown"
)
_GO_KEYWORDS = _words(
    "break case chan const continue default defer else fallthrough for func go goto if import "
    "interface map package range return select struct switch type var "
    # predeclared types: never informative as references
    "any bool byte comparable complex64 complex128 error float32 float64 int int8 int16 int32 "
    "int64 rune string uint uint8 uint16 uint32 uint64 uintptr nil true false iota"
)
_RUST_KEYWORDS = _words(
    "as async await break const continue crate dyn else enum extern false fn for if impl in let "
    "loop match mod move mut pub ref return self Self static struct super trait true type unsafe "
    "use where while"
)
_JAVA_KEYWORDS = _words(
    "abstract assert boolean break byte case catch char class const continue default do double "
    "else enum extends final finally float for goto if implements import instanceof int "
    "interface long native new package private protected public return short static strictfp "
    "super switch synchronized this throw throws transient try void volatile while var record "
    "yield sealed permits true false null"
)
_PY_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)


def _lang(module: str, attr: str = "language") -> Callable[[], Any]:
    def load() -> Any:
        import importlib

        return getattr(importlib.import_module(module), attr)()

    return load


_C_LIKE_ATTACH = ("//", "/*", "*")

SPECS: dict[str, LanguageSpec] = {
    "python": LanguageSpec(
        "python",
        _lang("tree_sitter_python"),
        _classify_python,
        frozenset({"comment"}),
        ("#", "@"),
        False,
        "...",
        False,
        PY_QUERY,
        _PY_KEYWORDS,
        python_docstrings=True,
    ),
    "javascript": LanguageSpec(
        "javascript",
        _lang("tree_sitter_javascript"),
        _classify_js,
        frozenset({"comment", "decorator"}),
        (*_C_LIKE_ATTACH, "@"),
        True,
        "// ...",
        True,
        JS_QUERY,
        _JS_KEYWORDS,
    ),
    "typescript": LanguageSpec(
        "typescript",
        _lang("tree_sitter_typescript", "language_typescript"),
        _classify_js,
        frozenset({"comment", "decorator"}),
        (*_C_LIKE_ATTACH, "@"),
        True,
        "// ...",
        True,
        TS_QUERY,
        _TS_KEYWORDS,
    ),
    "tsx": LanguageSpec(
        "tsx",
        _lang("tree_sitter_typescript", "language_tsx"),
        _classify_js,
        frozenset({"comment", "decorator"}),
        (*_C_LIKE_ATTACH, "@"),
        True,
        "// ...",
        True,
        TSX_QUERY,
        _TS_KEYWORDS,
    ),
    "go": LanguageSpec(
        "go",
        _lang("tree_sitter_go"),
        _classify_go,
        frozenset({"comment"}),
        _C_LIKE_ATTACH,
        True,
        "// ...",
        True,
        GO_QUERY,
        _GO_KEYWORDS,
    ),
    "rust": LanguageSpec(
        "rust",
        _lang("tree_sitter_rust"),
        _classify_rust,
        frozenset({"line_comment", "block_comment", "attribute_item"}),
        (*_C_LIKE_ATTACH, "#["),
        True,
        "// ...",
        True,
        RUST_QUERY,
        _RUST_KEYWORDS,
    ),
    "java": LanguageSpec(
        "java",
        _lang("tree_sitter_java"),
        _classify_java,
        frozenset({"line_comment", "block_comment"}),
        (*_C_LIKE_ATTACH, "@"),
        True,
        "// ...",
        True,
        JAVA_QUERY,
        _JAVA_KEYWORDS,
    ),
    "c": LanguageSpec(
        "c",
        _lang("tree_sitter_c"),
        _classify_c,
        frozenset({"comment"}),
        _C_LIKE_ATTACH,
        True,
        "/* ... */",
        True,
        C_QUERY,
        _C_KEYWORDS,
    ),
    "cpp": LanguageSpec(
        "cpp",
        _lang("tree_sitter_cpp"),
        _classify_c,
        frozenset({"comment"}),
        (*_C_LIKE_ATTACH, "[["),
        True,
        "// ...",
        True,
        CPP_QUERY,
        _CPP_KEYWORDS,
    ),
}

_IMPORT_QUOTES = "\"'`<>"
_WS = re.compile(r"\s+")


def required_module(node: Node, src: bytes) -> str:
    """``require("x")`` -> "x"; "" for any other call with a string first argument.

    (Text predicates such as ``#eq?`` read ``Node.text`` and so cannot be used.)"""
    callee = node.child_by_field_name("function")
    if callee is None or src[callee.start_byte : callee.end_byte] != b"require":
        return ""
    args = node.child_by_field_name("arguments")
    string = first_named(args) if args is not None else None
    fragment = first_named(string) if string is not None else None
    return text_of(fragment, src) if fragment is not None else ""


def clean_import(language: str, node: Node, src: bytes) -> str:
    """The module an ``@import`` capture names, as written."""
    raw = text_of(node, src)
    if language == "java":
        raw = raw.strip().removeprefix("import").strip().removesuffix(";").strip()
        raw = raw.removeprefix("static").strip()
    elif language == "rust":
        t = node.type
        if t in ("scoped_use_list", "use_as_clause"):
            path = node.child_by_field_name("path")
            raw = text_of(path, src) if path is not None else raw.split("{", 1)[0].rstrip(":")
        elif t == "use_wildcard":
            raw = raw.removesuffix("*").rstrip(":")
    return _WS.sub("", raw.strip(_IMPORT_QUOTES)) if language != "java" else _WS.sub("", raw)
