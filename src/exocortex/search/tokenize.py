"""Code-aware tokens, the same at index time and at query time.

An identifier gives itself, lower-cased and whole, and its camelCase and
snake_case parts (``getUserName`` -> ``getusername get user name``); a dotted
path gives itself whole and its components (``os.path.join`` -> ``os.path.join
os path join``); a file path gives itself, its file name, stem, directories and
its dotted module names (``src/pkg/io.py`` -> ``... pkg.io io.py io ...``).
Very common English and keyword words are dropped, modestly: a whole identifier
is kept unless it is itself a stopword.

Index time stores the distinct tokens of a chunk with their counts (the
``term_list`` and ``term_counts`` columns, :func:`chunk_term_counts`) and those of a
file's skeleton as one space-joined string (``skeleton_terms``), so building the
search index never re-tokenizes and query-time scoring never re-reads source text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain

# Identifiers, possibly dotted (a.b.c); digits may follow the first character.
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*")
# camelCase / PascalCase / ACRONYMWord / digits boundaries inside one identifier part.
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

MIN_PART_CHARS = 2
"""Parts shorter than this (``x``, ``i``) are dropped; whole identifiers are kept at any length >= 2."""

STOPWORDS = frozenset(
    [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "if",
        "in", "into", "is", "it", "its", "of", "on", "or", "so", "that", "the", "their", "then",
        "there", "these", "this", "those", "to", "was", "were", "will", "with", "not", "no", "do",
        "does", "did", "can", "could", "should", "would", "we", "you", "your", "our", "i", "me", "my",
        "he", "she", "they", "them", "self", "cls", "this", "def", "return", "var", "let", "const",
        "new", "none", "null", "nil", "true", "false", "import", "pass", "else", "elif", "while",
    ]
)


# The caches are kept small: identifiers repeat by a power law, so 32k entries answer 99% of the
# lookups that 256k entries answered on the four sdists of the benchmarks, in 20 MB of each index
# worker instead of 150 MB.
@lru_cache(maxsize=1 << 13)
def _identifier_tokens(ident: str) -> tuple[str, ...]:
    """Tokens of one (possibly dotted) identifier, whole first."""
    out: list[str] = []
    whole = ident.lower()
    parts = ident.split(".")
    if len(parts) > 1:
        out.append(whole)
    for part in parts:
        low = part.lower()
        if len(low) >= MIN_PART_CHARS and low not in STOPWORDS:
            out.append(low)
        pieces = [p for p in part.split("_") if p]
        sub: list[str] = []
        for piece in pieces:
            sub.extend(_CAMEL.findall(piece) or [piece])
        if len(sub) > 1:
            for s in sub:
                s = s.lower()
                if len(s) >= MIN_PART_CHARS and s not in STOPWORDS and not s.isdigit():
                    out.append(s)
    return tuple(out)


@lru_cache(maxsize=1 << 15)
def _match_tokens(match: str) -> tuple[str, ...]:
    return _identifier_tokens(match.strip("$") or match)


def code_tokens(text: str) -> list[str]:
    """Tokens of source text or a query, in order, with repetitions."""
    return list(chain.from_iterable(map(_match_tokens, _IDENT.findall(text))))


@lru_cache(maxsize=1 << 16)
def path_tokens(path: str) -> tuple[str, ...]:
    """Tokens of a file path: the path whole, the file name, stem, directories, module names."""
    norm = path.replace("\\", "/").strip("/")
    if not norm:
        return ()
    low = norm.lower()
    segments = low.split("/")
    name = segments[-1]
    stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
    out: list[str] = [low, name]
    if stem != name:
        out.append(stem)
    modules = [*segments[:-1], stem]
    # Dotted module names of the last few segments: pkg.io, store.lance, a.b.c.
    for start in range(max(0, len(modules) - 4), len(modules) - 1):
        out.append(".".join(modules[start:]))
    for seg in segments[:-1]:
        out.extend(_identifier_tokens(seg.replace("-", "_")) or (seg,))
    out.extend(t for t in _identifier_tokens(stem.replace("-", "_")) if t not in out)
    return tuple(dict.fromkeys(t for t in out if t))


def chunk_terms(path: str, symbol: str, text: str) -> str:
    """The ``terms`` of a chunk: its path, its symbol (twice: a name is strong evidence), its text."""
    sym = list(_identifier_tokens(symbol)) if symbol else []
    return " ".join([*path_tokens(path), *sym, *sym, *code_tokens(text)])


def _split_spaced(tokens: Sequence[str]) -> Sequence[str]:
    # A heading's symbol (and a path) may hold spaces; chunk_terms' string splits them apart.
    if any(" " in t for t in tokens):
        return [part for t in tokens for part in t.split(" ") if part]
    return tokens


def content_term_counts(symbol: str, text: str) -> Counter[str]:
    """The terms a chunk's content gives (its symbol twice, then its text), counted in order.

    Independent of the chunk's path, so identical contents at several paths are tokenized once.
    """
    counts = Counter(_split_spaced(_identifier_tokens(symbol) * 2 if symbol else ()))
    counts.update(code_tokens(text))  # identifiers never contain spaces
    return counts


def with_path_terms(path: str, content: Counter[str]) -> tuple[list[str], list[int]]:
    """The distinct terms of a chunk at ``path`` in order of first occurrence, and their counts."""
    counts = Counter(_split_spaced(path_tokens(path)))
    for term, n in content.items():
        counts[term] += n
    return list(counts), list(counts.values())


def chunk_term_counts(path: str, symbol: str, text: str) -> tuple[list[str], list[int]]:
    """The distinct terms of a chunk (see :func:`chunk_terms`), in order of first occurrence, and their counts."""
    return with_path_terms(path, content_term_counts(symbol, text))


def skeleton_terms(path: str, skeleton: str) -> str:
    """The ``skeleton_terms`` of a file: its path and the tokens of its skeleton."""
    return " ".join([*path_tokens(path), *code_tokens(skeleton)])
