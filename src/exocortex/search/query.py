"""Reading a query: its weighted tokens, the identifiers and file names it names.

``parse_query('where is "cache miss" handled in store/lance.py getUserName')`` gives
tokens with weights (a whole code identifier, dotted path, file name or quoted
phrase weighs more than a plain word or an identifier's part), the identifiers
to look up as definitions (``getusername``) and the path-like words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exocortex.search.tokenize import STOPWORDS, _identifier_tokens, path_tokens

WEIGHT_WORD = 1.0
WEIGHT_PART = 0.5
"""A camelCase/snake_case/dotted part of a query identifier."""
WEIGHT_IDENTIFIER = 2.0
"""A whole code-like identifier (has ``_``, ``.``, inner capitals or digits)."""
WEIGHT_PATH = 2.0
WEIGHT_QUOTED = 1.5

_QUOTED = re.compile(r'"([^"]+)"|`([^`]+)`|\'([^\']+)\'')
_PATHLIKE = re.compile(
    r"[\w.\-]*/[\w./\-]+"
    r"|[\w\-]+\.(?:py|pyi|js|ts|tsx|jsx|go|rs|java|c|h|cc|cpp|hpp|md|toml|json|yaml|yml|txt)\b"
)
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*")


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    terms: dict[str, float] = field(default_factory=dict)
    """Token -> weight, for BM25."""
    identifiers: tuple[str, ...] = ()
    """Lower-cased names whose definitions the query means: code-like or capitalized words
    (last components of dotted names, and dotted names whole)."""
    paths: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.terms


def _is_code_like(ident: str) -> bool:
    return any(c in ident for c in "_.$") or any(c.isdigit() for c in ident) or (
        any(c.isupper() for c in ident[1:]) and any(c.islower() for c in ident)
    )


def parse_query(text: str, title_weight: float = 1.0) -> Query:
    """The query's terms, identifiers and paths.

    A term's weight is the largest weight of its occurrences (a word repeated counts once).
    When the text has several lines, the terms of its first line (an issue's title, a
    commit's subject) are multiplied by ``title_weight``.
    """
    terms: dict[str, float] = {}
    identifiers: list[str] = []
    paths: list[str] = []

    def add(token: str, weight: float) -> None:
        terms[token] = max(terms.get(token, 0.0), weight)

    for groups in _QUOTED.findall(text):
        phrase = next(g for g in groups if g)
        for ident in _IDENT.findall(phrase):
            for i, tok in enumerate(_identifier_tokens(ident)):
                add(tok, WEIGHT_QUOTED if i == 0 else WEIGHT_PART)
    for raw in _PATHLIKE.findall(text):
        paths.append(raw)
        for i, tok in enumerate(path_tokens(raw)):
            add(tok, WEIGHT_PATH if i < 3 else WEIGHT_PART)
    for ident in _IDENT.findall(text):
        toks = _identifier_tokens(ident)
        if not toks:
            continue
        code_like = _is_code_like(ident)
        for i, tok in enumerate(toks):
            if i == 0:
                add(tok, WEIGHT_IDENTIFIER if code_like else WEIGHT_WORD)
            else:
                add(tok, WEIGHT_PART if code_like else WEIGHT_WORD)
        last = ident.rsplit(".", 1)[-1].lower()
        if (code_like or ident[:1].isupper()) and len(last) >= 2 and last not in STOPWORDS:
            identifiers.append(last)
            if "." in ident:
                identifiers.append(ident.lower())
    title, newline, rest = text.strip().partition("\n")
    if title_weight != 1.0 and newline and rest.strip():
        in_title = {tok for ident in _IDENT.findall(title) for tok in _identifier_tokens(ident)}
        for tok in in_title & terms.keys():
            terms[tok] *= title_weight
    return Query(
        text=text,
        terms=terms,
        identifiers=tuple(dict.fromkeys(identifiers)),
        paths=tuple(dict.fromkeys(paths)),
    )
