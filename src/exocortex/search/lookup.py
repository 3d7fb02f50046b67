"""Exact lookups an agent makes between searches: a definition by name, the uses of a name, lines of a file.

- :func:`find_symbol` reads the ``symbols`` table: exact names first (``User.slug``, ``slugify``),
  then qualified ones that end with the name (``slug`` finds ``User.slug``), then the same ignoring
  case; the body comes from the chunks, which hold every non-blank line of a file.
- :func:`find_references` scans the chunk texts for the name as a whole word (identifier
  characters on neither side), leaving out the line of each definition of it; files whose
  ``references`` column names it (code that uses it) come first.
- :func:`read_range` reads lines of an indexed file from the disk as they are now, decoded as
  the index decodes them, confined to the root (:func:`exocortex.sources.files.confine`).
"""

from __future__ import annotations

import operator
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.chunking.text import split_lines
from exocortex.errors import InputPathError, NoMatchesError, UsageError
from exocortex.search.filters import PathFilter
from exocortex.search.roles import file_roles
from exocortex.sources.files import SkippedFile, confine, decode_source, read_source
from exocortex.tokens import TokenCounter

if TYPE_CHECKING:
    from exocortex.config import Config
    from exocortex.store.lance import StoreReader

LINE_TEXT_CHARS = 200
"""A reference's line is shown stripped and cut to this many characters."""
_SYMBOL_COLUMNS = ["path", "name", "kind", "start_line", "end_line", "signature"]
_IDENT = r"[A-Za-z0-9_$]"
_WHERE_IN_MAX = 1000  # paths in one ``path IN (...)`` predicate; more are filtered after the read


def _count(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as a whole number of at least ``minimum``, or ``UsageError``."""
    if isinstance(value, bool):
        raise UsageError(f"{name} must be a whole number, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise UsageError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise UsageError(f"{name} must be at least {minimum}, got {value!r}")
    return number


def _name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"the {what} must be text (str), not {type(value).__name__}")
    name = value.strip().replace("::", ".")
    if not name:
        raise UsageError(f"the {what} is empty: pass a name such as make_user or User.slug")
    if "\n" in name or "\x00" in name:
        raise UsageError(f"the {what} {value!r} holds a line break or a NUL character")
    return name


def _read_paths(reader: StoreReader, table: str, columns: list[str], paths: list[str] | None) -> pa.Table:
    """``table``'s rows for ``paths`` (every row when None)."""
    if paths is None:
        return reader.read(table, columns)
    if not paths:
        return reader.read(table, columns).slice(0, 0)
    if len(paths) <= _WHERE_IN_MAX:
        return reader.read_paths(table, columns, paths)
    rows = reader.read(table, columns)
    return rows.filter(pc.is_in(rows.column("path"), value_set=pa.array(paths, pa.string())))


# ------------------------------------------------------------------ find_symbol


def find_symbol(
    reader: StoreReader, name: str, *, kind: str | None = None, include_body: bool = False, limit: int = 50,
) -> list[dict[str, Any]]:
    """Definitions named ``name``: ``{"path", "name", "kind", "lines": [start, end], "signature"}``
    (and ``"body"`` with ``include_body``), exact matches first; ``NoMatchesError`` when none."""
    query = _name(name, "symbol name")
    limit = _count("limit", limit)
    if kind is not None and (not isinstance(kind, str) or not kind.strip()):
        raise UsageError(f"kind must be a kind such as function, class or method, got {kind!r}")
    symbols = reader.read("symbols", _SYMBOL_COLUMNS)
    names = symbols.column("name")
    lower = pc.utf8_lower(names)
    q_lower = query.lower()
    tiers = [
        pc.equal(names, query),
        pc.ends_with(names, "." + query),
        pc.or_(pc.equal(lower, q_lower), pc.ends_with(lower, "." + q_lower)),
    ]
    tier = np.full(len(symbols), len(tiers), np.int64)
    for level in reversed(range(len(tiers))):
        hit = tiers[level].to_numpy(zero_copy_only=False).astype(bool)
        tier[hit] = level
    keep = tier < len(tiers)
    if kind is not None:
        keep &= pc.equal(symbols.column("kind"), kind.strip()).to_numpy(zero_copy_only=False).astype(bool)
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        of_kind = f" of kind {kind.strip()!r}" if kind is not None else ""
        raise NoMatchesError(f"no definition{of_kind} named {query!r} in the index")
    found = symbols.take(pa.array(rows))
    paths = found.column("path").to_pylist()
    order = np.lexsort((found.column("start_line").to_numpy(), np.array(paths, dtype=object).astype(str),
                        file_roles(paths), tier[rows]))[:limit]
    found = found.take(pa.array(order))
    results = [
        {"path": r["path"], "name": r["name"], "kind": r["kind"], "lines": [r["start_line"], r["end_line"]],
         "signature": r["signature"]}
        for r in found.to_pylist()
    ]
    if include_body:
        _add_bodies(reader, results)
    return results


def _add_bodies(reader: StoreReader, results: list[dict[str, Any]]) -> None:
    """Each result's ``body``: its lines from the file's chunks (lines in no chunk are blank)."""
    paths = sorted({r["path"] for r in results})
    chunks = _read_paths(reader, "chunks", ["path", "start_line", "text"], paths)
    by_path: dict[str, list[tuple[int, str]]] = {}
    for path, start, text in zip(*(chunks.column(c).to_pylist() for c in ("path", "start_line", "text")),
                                 strict=True):
        by_path.setdefault(path, []).append((start, text))
    for result in results:
        start, end = result["lines"]
        lines = [""] * (end - start + 1)
        for chunk_start, text in by_path.get(result["path"], ()):
            for offset, line in enumerate((text[:-1] if text.endswith("\n") else text).split("\n")):
                number = chunk_start + offset
                if start <= number <= end:
                    lines[number - start] = line
        result["body"] = "\n".join(lines) + "\n"


# -------------------------------------------------------------- find_references


def find_references(
    reader: StoreReader, symbol: str, *, path: str | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """Lines that use ``symbol`` (its last component, as a whole word): ``{"path", "line", "text", "symbol"}``.

    ``text`` is the line stripped (at most ``LINE_TEXT_CHARS`` characters); ``symbol`` is the
    definition the line sits in (``""`` at module level). Definition lines are left out. ``path``
    (a root-relative path or a gitignore-style glob) keeps the files it matches.
    ``NoMatchesError`` when no line uses it.
    """
    query = _name(symbol, "symbol")
    limit = _count("limit", limit)
    word = query.rsplit(".", 1)[-1]
    if not word or not re.fullmatch(r"[^\s]+", word):
        raise UsageError(f"cannot look for uses of {symbol!r}: pass an identifier such as make_user")
    files = reader.read("files", ["path", "skip_reason", "references"])
    files = files.filter(pc.is_null(files.column("skip_reason")))
    paths: list[str] | None = None
    if path is not None:
        matcher = PathFilter.of(include=path)
        if matcher is None:  # a blank path: PathFilter refuses it, so this only satisfies the type checker
            raise UsageError("the path is empty: pass a file or a glob such as 'src/**/*.py'")
        paths = [p for p in files.column("path").to_pylist() if matcher.allows(p)]
        if not paths:
            raise NoMatchesError(f"no indexed file matches the path {path!r}")
    refs = files.column("references").combine_chunks()
    named = pc.equal(pc.list_flatten(refs), word).to_numpy(zero_copy_only=False).astype(bool)
    users = set(files.column("path").take(pc.list_parent_indices(refs).filter(pa.array(named))).to_pylist())

    chunks = _read_paths(reader, "chunks", ["path", "start_line", "symbol", "text"], paths)
    chunks = chunks.filter(pc.match_substring(chunks.column("text"), word))
    pattern = re.compile(rf"(?<!{_IDENT}){re.escape(word)}(?!{_IDENT})")
    found: dict[tuple[str, int], tuple[str, str]] = {}
    for p, start, sym, text in zip(*(chunks.column(c).to_pylist() for c in ("path", "start_line", "symbol", "text")),
                                   strict=True):
        for offset, line in enumerate(text.split("\n")):
            if pattern.search(line):
                found[(p, start + offset)] = (line, sym)
    for key in _definition_lines(reader, word, found):
        found.pop(key, None)
    if not found:
        where = f" in {path!r}" if path is not None else ""
        raise NoMatchesError(f"no use of {word!r}{where} in the index")
    keys = sorted(found, key=lambda k: (k[0] not in users, k[0], k[1]))[:limit]
    return [{"path": p, "line": line, "text": _shown(found[(p, line)][0]), "symbol": found[(p, line)][1]}
            for p, line in keys]


def _definition_lines(reader: StoreReader, word: str, found: dict[tuple[str, int], tuple[str, str]]) -> list[
        tuple[str, int]]:
    """The line of each definition of ``word``: the first line of its extent that names it."""
    if not found:
        return []
    symbols = reader.read("symbols", ["path", "name", "start_line", "end_line"])
    names = symbols.column("name")
    mine = pc.or_(pc.equal(names, word), pc.ends_with(names, "." + word))
    symbols = symbols.filter(mine)
    by_path: dict[str, list[int]] = {}
    for p, line in found:
        by_path.setdefault(p, []).append(line)
    out: list[tuple[str, int]] = []
    for p, start, end in zip(*(symbols.column(c).to_pylist() for c in ("path", "start_line", "end_line")),
                             strict=True):
        inside = [line for line in by_path.get(p, ()) if start <= line <= end]
        if inside:
            out.append((p, min(inside)))
    return out


def _shown(line: str) -> str:
    text = line.strip()
    return text if len(text) <= LINE_TEXT_CHARS else text[: LINE_TEXT_CHARS - 1] + "…"


# ------------------------------------------------------------------ read_range


def read_range(
    root: Path, reader: StoreReader, path: str, start_line: int, end_line: int, config: Config, *,
    max_tokens: int | None = None, tokenizer: str | None = None,
) -> dict[str, Any]:
    """Lines ``start_line..end_line`` (1-based, inclusive) of the indexed file ``path``, read from disk now.

    Returns ``{"path", "start_line", "end_line", "text", "tokens", "truncated", "total_lines"}``:
    ``end_line`` is the last line returned (an end past the file is clamped to its last line;
    ``max_tokens`` keeps whole lines up to that many tokens and sets ``truncated``).
    """
    start = _count("start_line", start_line)
    end = _count("end_line", end_line)
    if end < start:
        raise UsageError(f"end_line ({end}) is before start_line ({start})")
    cap = None if max_tokens is None else _count("max_tokens", max_tokens)
    counter = TokenCounter(tokenizer or config.tokenizer)
    full = confine(root, path)
    real_root = Path(os.path.realpath(root))
    rel = full.relative_to(real_root).as_posix()
    try:
        mode = os.stat(full).st_mode
    except FileNotFoundError:
        raise InputPathError(f"no such file: {path}") from None
    except OSError as exc:
        raise InputPathError(f"cannot access {path}: {(exc.strerror or str(exc)).lower()}") from None
    if stat.S_ISDIR(mode):
        raise InputPathError(f"{path} is a directory: pass a file")
    files = _read_paths(reader, "files", ["path", "skip_reason"], [rel])
    if not any(reason is None for reason in files.column("skip_reason").to_pylist()):
        raise InputPathError(f"{rel} is not in the index (ignored, skipped, or added after the last index run): "
                             "only indexed files can be read")
    source = read_source(real_root, rel, config)
    if isinstance(source, SkippedFile):
        raise InputPathError(f"cannot read {rel}: {source.reason} ({source.detail})")
    text, _encoding = decode_source(source.data)
    lines = split_lines(text)
    total = len(lines)
    if start > max(total, 1):
        raise UsageError(f"start_line {start} is past the end of {rel} ({total:,} lines)")
    end = min(end, total)
    picked = lines[start - 1 : end]
    truncated = False
    if cap is not None and picked and counter.count("".join(picked)) > cap:
        keep = _lines_within(picked, cap, counter)
        picked = picked[:keep]
        end = start + keep - 1
        truncated = True
    body = "".join(picked)
    return {"path": rel, "start_line": start, "end_line": end, "text": body, "tokens": counter.count(body),
            "truncated": truncated, "total_lines": total}


def _lines_within(lines: list[str], cap: int, counter: TokenCounter) -> int:
    """The most leading lines whose text counts at most ``cap`` tokens (binary search on exact counts)."""
    low, high = 0, len(lines)  # lines[:low] fits; lines[:high + 1] would not be needed
    while low < high:
        mid = (low + high + 1) // 2
        if counter.count("".join(lines[:mid])) <= cap:
            low = mid
        else:
            high = mid - 1
    return low
