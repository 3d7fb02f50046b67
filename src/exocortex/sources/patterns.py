"""Gitignore patterns with git's exact semantics, one ignore file matched many names at a time.

Git's matcher (``dir.c`` and ``wildmatch.c``) works on bytes; so does this one:
``?`` matches one byte of a UTF-8 name, as in git. Patterns are read into
tokens with wildmatch's rules, then written out as regular expressions:

* a pattern with a slash is split, where its shape allows, into a condition on
  the directory (``/build/``: the directory is the top; ``a/**/b``: it is below
  ``a/``), checked once per directory, and a pattern for the entry's name; the
  few that cannot be split are matched on the entry's path;
* a name pattern that starts with a wildcard and ends with a literal
  (``*.log``) is matched reversed on the reversed name (``gol.*``), so that the
  regex engine rejects most names on their first byte;
* each ignore file gives one regex per field (name, reversed name, path) whose
  capture group k holds the patterns of run k, a run being consecutive patterns
  of the same sign counted from the end of the file: the first group that
  matches names the last matching pattern, the one git obeys.

The caller (:class:`exocortex.sources.ignore.IgnoreRules`, for
:func:`exocortex.sources.files.walk_source_files`) hands over the names of many
directories at once, joined by newlines, and each regex runs once over them
with ``finditer``: the cost per name is a few steps in C.

Semantics reproduced from git 2.39 and checked against it in
``tests/test_ignore_git_parity.py`` (hand-written cases, real projects and a
property test over random trees and patterns):

* blank lines and lines starting with ``#`` are skipped; a UTF-8 BOM is skipped;
  trailing spaces are trimmed unless escaped with a backslash; ``\\r\\n`` ends a line;
* ``!`` negates, ``\\!`` and ``\\#`` are literal; a trailing ``/`` matches directories
  only (a symlink to a directory is not a directory);
* a pattern without a slash (a trailing one aside) matches the name at any depth
  below the ignore file; any other pattern is anchored to the ignore file's
  directory (one leading ``/`` is dropped);
* ``*``, ``?`` and ``[...]`` never match ``/``; ``**/`` at the start or after a
  slash matches zero or more directories, ``/**`` at the end everything inside,
  any other ``**`` is a ``*``; ``[!...]``, ``[^...]``, ranges and ``[:class:]`` as
  in wildmatch; an unclosed ``[``, an unknown class or a trailing backslash
  makes a pattern that never matches;
* git compares the literal head of an anchored pattern (up to its first
  wildcard) and then wildmatches the rest as a pattern of its own, so in
  ``foo**/bar`` the ``**`` counts as leading (it matches ``foobar`` and
  ``fooX/Y/bar``): reproduced;
* matching is case-sensitive (``core.ignoreCase`` is not read).

Which files are in force where, and in what order, is the business of
:mod:`exocortex.sources.ignore`; the git work tree, its ``info/exclude`` and the
global excludes file are found by :mod:`exocortex.sources.git`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ALWAYS",
    "IgnoreFile",
    "InForce",
    "compile_ignore_file",
    "parse_ignore_lines",
    "read_ignore_file",
]

# ------------------------------------------------------------------ parsing


def _trim_trailing_spaces(line: bytes) -> bytes:
    """Drop trailing spaces unless escaped, exactly as git's trim_trailing_spaces."""
    if not line.endswith(b" "):
        return line
    last_space = -1
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == 0x20:
            if last_space < 0:
                last_space = i
        elif c == 0x5C:  # backslash: the next byte is literal
            i += 1
            if i >= n:
                return line
            last_space = -1
        else:
            last_space = -1
        i += 1
    return line[:last_space] if last_space >= 0 else line


def parse_ignore_lines(data: bytes) -> list[bytes]:
    """The pattern lines of an ignore file, in order (comments and blanks dropped)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    out: list[bytes] = []
    for raw in data.split(b"\n"):
        if not raw or raw[0] == 0x23:  # empty line or '#' comment
            continue
        if raw[-1] == 0x0D:
            raw = raw[:-1]
        if 0 in raw:  # git reads the line as a C string
            raw = raw[: raw.index(0)]
        out.append(_trim_trailing_spaces(raw))
    return out


# -------------------------------------------------------------- translation
#
# A pattern is first read into tokens, with wildmatch's rules; the tokens are
# then written out as regular expressions for the field they are matched on.

_LIT, _ONE, _STAR, _SET, _ANY, _DIRS0, _DIRS1 = range(7)
# _LIT: one literal byte; _ONE: '?'; _STAR: '*' (no slash); _SET: a bracket
# expression (a 256-byte membership table); _ANY: a trailing "**" (anything);
# _DIRS0: "**/" (zero or more directories); _DIRS1: "**\/" (one or more).

Token = tuple[int, int | bytes]


def _byte_set(spec: bytes) -> set[int]:
    out: set[int] = set()
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == 0x2D:
            out.update(range(spec[i], spec[i + 2] + 1))
            i += 3
        else:
            out.add(spec[i])
            i += 1
    return out


_CLASSES: dict[bytes, frozenset[int]] = {
    # git's sane_ctype: ASCII only
    name: frozenset(_byte_set(spec))
    for name, spec in {
        b"alnum": b"0-9A-Za-z",
        b"alpha": b"A-Za-z",
        b"blank": b"\t ",
        b"cntrl": bytes([0]) + b"-\x1f\x7f",
        b"digit": b"0-9",
        b"graph": b"!-~",
        b"lower": b"a-z",
        b"print": b" -~",
        b"punct": b"!-/:-@[-`{-~",
        b"space": b"\t\n\r ",
        b"upper": b"A-Z",
        b"xdigit": b"0-9A-Fa-f",
    }.items()
}

_GLOB_SPECIAL = frozenset(b"*?[\\")


class _Never(Exception):
    """The pattern can never match (wildmatch would return WM_ABORT_ALL)."""


def _bracket(pat: bytes, i: int) -> tuple[Token, int]:
    """Read the bracket expression at ``pat[i] == '['``; returns the token and the next index.

    Follows wildmatch's loop: the first member may be ``]``; ``-`` is literal
    first, last or right after a range; ``[:name:]`` is a class and ``[:``
    without ``:]`` a literal ``[``. A bracket never matches ``/``.
    """
    n = len(pat)
    j = i + 1
    if j >= n:
        raise _Never
    negated = pat[j] in (0x21, 0x5E)  # '!' or '^'
    if negated:
        j += 1
        if j >= n:
            raise _Never
    members: set[int] = set()
    prev = -1  # wildmatch's prev_ch; -1 stands for 0 (no previous member)
    c = pat[j]
    while True:
        if c == 0x5C:  # backslash escapes the next byte
            j += 1
            if j >= n:
                raise _Never
            c = pat[j]
            members.add(c)
            prev = c
        elif c == 0x2D and prev >= 0 and j + 1 < n and pat[j + 1] != 0x5D:
            j += 1
            hi = pat[j]
            if hi == 0x5C:
                j += 1
                if j >= n:
                    raise _Never
                hi = pat[j]
            members.update(range(prev, hi + 1))
            prev = -1
        elif c == 0x5B and j + 1 < n and pat[j + 1] == 0x3A:  # "[:"
            s = j + 2
            k = s
            while k < n and pat[k] != 0x5D:
                k += 1
            if k >= n:
                raise _Never
            if k - s - 1 < 0 or pat[k - 1] != 0x3A:
                members.add(0x5B)  # not a class: a literal '['
                prev = 0x5B
            else:
                cls = _CLASSES.get(pat[s : k - 1])
                if cls is None:
                    raise _Never  # malformed [:class:]
                members.update(cls)
                prev = -1
                j = k
        else:
            members.add(c)
            prev = c
        j += 1
        if j >= n:
            raise _Never
        c = pat[j]
        if c == 0x5D:
            break
    table = bytearray(256)
    for m in members:
        table[m] = 1
    if negated:
        table = bytearray(1 - t for t in table)
    table[0x2F] = 0
    table[0] = 0
    return (_SET, bytes(table)), j + 1


def _tokens(pat: bytes, start: int) -> list[Token]:
    """Read ``pat[start:]`` as wildmatch does with WM_PATHNAME.

    ``start`` is where wildmatch begins: a ``**`` there counts as leading.
    """
    out: list[Token] = []
    i, n = start, len(pat)
    while i < n:
        c = pat[i]
        if c == 0x5C:  # backslash
            if i + 1 >= n:
                raise _Never
            out.append((_LIT, pat[i + 1]))
            i += 2
        elif c == 0x3F:  # '?'
            out.append((_ONE, 0))
            i += 1
        elif c == 0x2A:  # '*'
            j = i
            while j < n and pat[j] == 0x2A:
                j += 1
            leading = j - i >= 2 and (i == start or pat[i - 1] == 0x2F)
            if leading and j == n:
                out.append((_ANY, 0))
            elif leading and pat[j] == 0x2F:
                out.append((_DIRS0, 0))
                j += 1
            elif leading and pat[j] == 0x5C and j + 1 < n and pat[j + 1] == 0x2F:
                out.append((_DIRS1, 0))  # wildmatch skips the zero case here
                j += 2
            else:
                out.append((_STAR, 0))
            i = j
        elif c == 0x5B:  # '['
            token, i = _bracket(pat, i)
            out.append(token)
        else:
            out.append((_LIT, c))
            i += 1
    return out


def _emit(tokens: Sequence[Token], blob: bool) -> bytes:
    """Regex for the tokens; ``blob`` keeps every class off the newline that ends a line."""
    not_slash = rb"[^/\x00\n]" if blob else rb"[^/\x00]"
    anything = rb"[^\x00\n]*" if blob else rb"[^\x00]*"
    out = []
    for kind, data in tokens:
        if kind == _LIT:
            out.append(b"\\x%02x" % data)  # type: ignore[str-format]
        elif kind == _ONE:
            out.append(not_slash)
        elif kind == _STAR:
            out.append(not_slash + b"*")
        elif kind == _SET:
            assert isinstance(data, bytes)
            members = [c for c in range(256) if data[c] and not (blob and c == 0x0A)]
            out.append(_char_class(members))
        elif kind == _ANY:
            out.append(anything)
        elif kind == _DIRS0:
            out.append(b"(?:" + anything + b"/)?")
        else:  # _DIRS1
            out.append(anything + b"/")
    return b"".join(out)


def _char_class(members: list[int]) -> bytes:
    if not members:
        return b"(?!)"
    ranges: list[bytes] = []
    lo = prev = members[0]
    for c in [*members[1:], -2]:
        if c != prev + 1:
            ranges.append(b"\\x%02x" % lo if lo == prev else b"\\x%02x-\\x%02x" % (lo, prev))
            lo = c
        prev = c
    return b"[" + b"".join(ranges) + b"]"


def _slash_free(token: Token) -> bool:
    kind = token[0]
    return kind in (_ONE, _STAR, _SET) or (kind == _LIT and token[1] != 0x2F)


def _ends_at_slash(tokens: Sequence[Token]) -> bool:
    """Whether every string the tokens match is empty or ends with '/'."""
    i = len(tokens)
    while i > 0:
        kind, data = tokens[i - 1]
        if kind == _LIT:
            return data == 0x2F
        if kind == _DIRS1:
            return True
        if kind != _DIRS0:
            return False
        i -= 1  # "**/" may match nothing: look further back
    return True


# The fields an entry is matched on: its name, its reversed name, its path
# relative to the top of the tree.
_NAME, _EMAN, _PATH = 0, 1, 2
_EVERYTHING: tuple[Token, ...] = ((_ANY, 0),)

# A condition on the directory (top-relative, ending in '/'): it equals a literal,
# starts with a literal, or matches a regex (given as its source).
Condition = tuple[int, bytes]
_EQ, _PREFIX, _REGEX = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Pattern:
    negative: bool
    dir_only: bool
    field: int  # _NAME, _EMAN or _PATH
    tokens: tuple[Token, ...]  # for the field (reversed for _EMAN)
    condition: Condition | None  # on the entry's directory (top-relative, ending in '/')


def _name_pattern(tokens: list[Token]) -> tuple[int, tuple[Token, ...]]:
    first, last = tokens[0][0], tokens[-1][0]
    if first not in (_LIT, _SET) and last in (_LIT, _SET):
        return _EMAN, tuple(reversed(tokens))
    return _NAME, tuple(tokens)


def _condition(tokens: list[Token], inside: bool) -> Condition:
    """The directories in which the entries are candidates.

    ``inside`` (a trailing ``**``): the directory or any directory below it.
    """
    if all(kind == _LIT for kind, _ in tokens):
        literal = bytes(data for _, data in tokens)  # type: ignore[misc]
        return (_PREFIX, literal) if inside else (_EQ, literal)
    return (_REGEX, _emit(tokens, False) + (rb"(?:[^\x00]*/)?" if inside else b""))


def _compile_pattern(line: bytes, base: bytes) -> _Pattern | None:
    negative = line.startswith(b"!")
    pat = line[1:] if negative else line
    dir_only = pat.endswith(b"/")
    if dir_only:
        pat = pat[:-1]
    try:
        if b"/" not in pat:  # matched against the name alone, at any depth
            tokens = _tokens(pat, 0)
            if not tokens:
                return None
            field, tokens_t = _name_pattern(tokens)
            return _Pattern(negative, dir_only, field, tokens_t, None)
        if pat.startswith(b"/"):
            pat = pat[1:]
        # git compares the literal head, then wildmatches the rest on its own
        prefix = 0
        while prefix < len(pat) and pat[prefix] not in _GLOB_SPECIAL:
            prefix += 1
        tokens = [(_LIT, c) for c in base + pat[:prefix]] + _tokens(pat, prefix)
    except _Never:
        return None
    name_len = 0
    while name_len < len(tokens) and _slash_free(tokens[-1 - name_len]):
        name_len += 1
    if name_len:
        directory = tokens[: len(tokens) - name_len]
        if _ends_at_slash(directory):
            field, name_t = _name_pattern(tokens[len(tokens) - name_len :])
            return _Pattern(negative, dir_only, field, name_t, _condition(directory, False))
    elif tokens and tokens[-1][0] == _ANY and _ends_at_slash(tokens[:-1]):
        return _Pattern(negative, dir_only, _NAME, _EVERYTHING, _condition(tokens[:-1], True))
    elif not tokens or tokens[-1] == (_LIT, 0x2F):
        return None  # "foo//": a name would have to be empty
    return _Pattern(negative, dir_only, _PATH, tuple(tokens), None)


# One field's regex for a set of patterns: capture group k (1-based) belongs to
# run runs[k - 1]; runs are numbered from the end of the file.
FieldRegex = tuple["re.Pattern[bytes]", tuple[int, ...]]
# Per field (_NAME, _EMAN, _PATH): the regex, or None when no pattern uses the field.
Compiled = tuple["FieldRegex | None", "FieldRegex | None", "FieldRegex | None"]
# Which directory-dependent patterns apply in a directory: (indices of the equality
# conditions that hold, one entry per other condition, None when it does not hold).
InForce = tuple[tuple[int, ...], tuple["bytes | None", ...]]
ALWAYS: InForce = ((), ())


def _assemble(patterns: Sequence[_Pattern], blob: bool) -> tuple[Compiled, tuple[bool, ...]]:
    """Regexes for the patterns (in file order) and whether each run ignores.

    The patterns are cut into runs of the same sign, counted from the end of
    the file. For each field one regex has one capture group per run, latest
    run first: the first alternative that matches names the latest run with a
    matching pattern, and over the three fields the smallest run number wins,
    which is git's "last matching pattern". Inside a run the order does not
    matter, every member giving the same answer.
    """
    run_of: list[int] = []
    ignored: list[bool] = []
    previous: bool | None = None
    for p in reversed(patterns):
        if p.negative is not previous:
            ignored.append(not p.negative)
            previous = p.negative
        run_of.append(len(ignored) - 1)
    run_of.reverse()
    per_field: list[dict[int, list[bytes]]] = [{}, {}, {}]
    for p, run in zip(patterns, run_of, strict=True):
        per_field[p.field].setdefault(run, []).append(_emit(p.tokens, blob))
    compiled: list[FieldRegex | None] = []
    for runs in per_field:
        if not runs:
            compiled.append(None)
            continue
        order = sorted(runs)
        body = b"|".join(b"(" + b"|".join(runs[r]) + b")" for r in order)
        regex = re.compile(rb"\n(?:" + body + rb")(?=\n)") if blob else re.compile(body, re.DOTALL)
        compiled.append((regex, tuple(order)))
    return (compiled[0], compiled[1], compiled[2]), tuple(ignored)


class IgnoreFile:
    """The compiled patterns of one ignore file.

    ``git`` says whether git knows this file: a tracked path overrides a git
    rule, never an ``.ignore`` / ``.exocortexignore`` one.
    """

    __slots__ = (
        "source",
        "git",
        "needs_path",
        "conditional",
        "_patterns",
        "_eq",
        "_others",
        "_others_re",
        "_compiled",
    )

    def __init__(self, patterns: Sequence[_Pattern], *, source: str, git: bool) -> None:
        self.source = source
        self.git = git
        self._patterns = tuple(patterns)
        self.needs_path = any(p.field == _PATH for p in self._patterns)
        # directory conditions: equalities through a dict, the rest through one regex
        # whose k-th empty group is set when the k-th condition holds
        self._eq: dict[bytes, tuple[int, ...]] = {}
        others: list[int] = []
        sources: list[bytes] = []
        for i, p in enumerate(self._patterns):
            if p.condition is None:
                continue
            kind, value = p.condition
            if kind == _EQ:
                self._eq[value] = (*self._eq.get(value, ()), i)
            else:
                others.append(i)
                if kind == _PREFIX:
                    sources.append(b"".join(b"\\x%02x" % c for c in value) + rb"[^\x00]*")
                else:
                    sources.append(value)
        self._others = tuple(others)
        self._others_re = (
            re.compile(b"".join(b"(?:(?=(?:" + src + rb")\Z)()|)" for src in sources), re.DOTALL) if sources else None
        )
        self.conditional = bool(self._eq or self._others)
        self._compiled: dict[tuple[InForce, bool, bool], tuple[Compiled, tuple[bool, ...]]] = {}

    def __len__(self) -> int:
        return len(self._patterns)

    def __repr__(self) -> str:
        return f"IgnoreFile({self.source!r}, {len(self._patterns)} patterns)"

    def in_force(self, directory: bytes) -> InForce:
        """Which directory-dependent patterns apply to entries of ``directory`` (a hashable key)."""
        eq = self._eq.get(directory, ())
        if self._others_re is None:
            return eq, ()
        m = self._others_re.match(directory)
        return eq, m.groups() if m is not None else ()

    def compiled(self, in_force: InForce, is_dir: bool, blob: bool) -> tuple[Compiled, tuple[bool, ...]]:
        key = (in_force, is_dir, blob)
        found = self._compiled.get(key)
        if found is None:
            eq, groups = in_force
            chosen = set(eq) | {i for i, g in zip(self._others, groups, strict=False) if g is not None}
            found = self._compiled[key] = _assemble(
                [
                    p
                    for i, p in enumerate(self._patterns)
                    if (p.condition is None or i in chosen) and (is_dir or not p.dir_only)
                ],
                blob,
            )
        return found

    def match_blobs(self, blobs: tuple[bytes, bytes, bytes], in_force: InForce, is_dir: bool) -> dict[bytes, bool]:
        """{name: ignored} for the names that a pattern of this file matches.

        ``blobs`` are the newline-framed names, the same reversed (whole) and,
        when some file needs them, the paths relative to the top.
        """
        (by_name, by_eman, by_path), ignored = self.compiled(in_force, is_dir, True)
        best: dict[bytes, int] = {}
        if by_name is not None:
            regex, runs = by_name
            for m in regex.finditer(blobs[0]):
                group = m.lastindex or 0  # every alternative is inside one run's group
                best[m.group(group)] = runs[group - 1]
        if by_eman is not None:
            regex, runs = by_eman
            for m in regex.finditer(blobs[1]):
                group = m.lastindex or 0
                name = m.group(group)[::-1]
                run = runs[group - 1]
                if best.get(name, run) >= run:
                    best[name] = run
        if by_path is not None:
            regex, runs = by_path
            for m in regex.finditer(blobs[2]):
                group = m.lastindex or 0
                path = m.group(group)
                name = path[path.rfind(b"/") + 1 :]
                run = runs[group - 1]
                if best.get(name, run) >= run:
                    best[name] = run
        return {name: ignored[run] for name, run in best.items()}

    def match_one(self, name: bytes, directory: bytes, is_dir: bool) -> bool | None:
        """True (ignored), False (re-included) or None (no pattern matches)."""
        compiled, ignored = self.compiled(self.in_force(directory), is_dir, False)
        best = len(ignored)
        for field_regex, text in zip(compiled, (name, name[::-1], directory + name), strict=True):
            if field_regex is not None:
                regex, runs = field_regex
                m = regex.fullmatch(text)
                if m is not None:
                    best = min(best, runs[(m.lastindex or 0) - 1])
        return ignored[best] if best < len(ignored) else None


def compile_ignore_file(data: bytes, base: bytes, *, source: str, git: bool) -> IgnoreFile | None:
    """Compile an ignore file's bytes; None when it holds no usable pattern."""
    patterns = []
    for line in parse_ignore_lines(data):
        p = _compile_pattern(line, base)
        if p is not None:
            patterns.append(p)
    return IgnoreFile(patterns, source=source, git=git) if patterns else None


def read_ignore_file(path: str, base: bytes, *, git: bool) -> IgnoreFile | None:
    """Read and compile one ignore file; a missing or unreadable file gives None."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return compile_ignore_file(data, base, source=path, git=git)
