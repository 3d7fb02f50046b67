"""Text made safe to show on one line of a terminal or a markdown heading.

A file name (or a sample name, a symbol) can hold escape sequences that would drive a terminal,
newlines that would split a heading or a table row, bidirectional overrides that reorder what is
shown, or lone surrogates from undecodable bytes. :func:`printable` shows each of them as an
escape (``\\x1b``, ``\\n``, ``\\u202e``); JSON and XML output keep the exact string instead.
Imports nothing of ours: the CLI's start-up and the pack renderer both use it.
"""

from __future__ import annotations

import re

UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""Control characters (C0, DEL, C1), line and paragraph separators, bidirectional marks and
overrides, and lone surrogates."""
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``, ``\\n``): safe on a terminal, one line."""
    s = str(text)
    return UNPRINTABLE.sub(_escape, s) if UNPRINTABLE.search(s) else s
