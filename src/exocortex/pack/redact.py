"""Secrets kept out of packs and answers: found by maintained scanners, replaced by a marker.

Two libraries find them, each for what it does best (no hand-written patterns here):

- **Kingfisher** (``kingfisher-secret-scanner``, MongoDB; Rust and Vectorscan) matches ~490
  provider rules (the gitleaks/betterleaks catalogue and Google's Veles detectors): AWS key pairs,
  GitHub, GitLab, Slack, Stripe, OpenAI... tokens, webhooks, credentials in URIs, and private key
  blocks whole, over all their lines. A rule that pairs two parts (an AWS key id and its secret)
  reports the second part as a hidden component; every part of a credential it found is redacted.
- **detect-secrets** (Yelp) ``KeywordDetector`` finds a value assigned to a secret-sounding name
  (``password = "..."``, ``api_key: ...``), which no provider rule covers; its own heuristic
  filters drop what is plainly not a secret (templates, ``$VARIABLES``, UUIDs, ids, sequences,
  values read from elsewhere) and honour ``# pragma: allowlist secret``.

Each secret value becomes ``[REDACTED:<type>]``, where ``<type>`` is the Kingfisher rule's id
without its catalogue prefix (``aws-access-token``, ``aws-secret-access-key``, ``github-pat``,
``private-key``, ``slack-webhook-url``) or ``secret-keyword``. A secret over several lines (a
private key) becomes one marker on its first line and empty lines after it: the text keeps its
line count, so the line labels of a pack stay exact. Findings give the line (1-based, in the text
scanned) and the type, never the value.

Scanning is offline; nothing is validated against a provider. Kingfisher compiles its rules once
per machine (about 4 s) into its on-disk cache (``KF_RULE_CACHE_DIR``, else the user's cache
directory) and loads them once per process (about 0.3 s); a scan then costs about 1 ms per 100 KB.
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass
from typing import Any

from exocortex.chunking.text import split_lines

MARKER = "[REDACTED:{type}]"
"""What stands for a secret value in a pack."""
KEYWORD_TYPE = "secret-keyword"
"""The type of a value assigned to a secret-sounding name (detect-secrets' KeywordDetector)."""
_RULE_PREFIXES = ("betterleaks.", "kingfisher.", "custom.", "veles.secrets/")


@dataclass(frozen=True, slots=True)
class Finding:
    """One redacted secret: where it was and what kind (never its value)."""

    path: str
    line: int
    """1-based line of the secret's start, in the text scanned (a pack reports source lines)."""
    type: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "type": self.type}


class _Scanners:
    """The process's scanners, made on first use (Kingfisher's rules take ~0.3 s to load)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kingfisher: Any = None
        self._keyword: Any = None
        self._aws: list[re.Pattern[bytes]] | None = None

    def kingfisher(self) -> Any:
        if self._kingfisher is None:
            with self._lock:
                if self._kingfisher is None:
                    import kingfisher_sdk

                    self._kingfisher = kingfisher_sdk.Scanner(kingfisher_sdk.Rules())
        return self._kingfisher

    def aws(self) -> list[re.Pattern[bytes]]:
        if self._aws is None:
            from detect_secrets.plugins.aws import AWSKeyDetector

            self._aws = [re.compile(p.pattern.encode(), p.flags & ~re.UNICODE) for p in AWSKeyDetector().denylist]
        return self._aws

    def keyword(self) -> tuple[Any, re.Pattern[str], re.Pattern[str]]:
        if self._keyword is None:
            with self._lock:
                if self._keyword is None:
                    from detect_secrets.plugins import keyword

                    # The plugin's own names, to skip at C speed the lines it could not match (matched
                    # on lower-cased text: a case-insensitive alternation is ten times slower).
                    self._keyword = (keyword.KeywordDetector(), re.compile(keyword.DENYLIST_REGEX),
                                     re.compile(keyword.DENYLIST_REGEX, re.IGNORECASE))
        return self._keyword  # type: ignore[no-any-return]


_scanners = _Scanners()


def redact_text(text: str, path: str = "") -> tuple[str, list[Finding]]:
    """``text`` with every secret the scanners find replaced by ``[REDACTED:<type>]``, and the findings.

    ``path`` (root-relative) names the findings and tells detect-secrets the file type (quotes
    are optional around a value in ``.env``, YAML or INI files). The result has as many lines
    as ``text``. Text without secrets comes back unchanged (the same object).
    """
    if not text:
        return text, []
    data = text.encode("utf-8", "surrogatepass")
    spans = _kingfisher_spans(data)
    spans += _aws_key_spans(data, spans)
    spans += _keyword_spans(text, data, path, spans)
    if not spans:
        return text, []
    return _apply(data, spans, path)


def _kingfisher_spans(data: bytes) -> list[tuple[int, int, str]]:
    found = _scanners.kingfisher().scan(data)
    if not found:
        return []
    visible = [f for f in found if f.visible]
    spans = []
    # Hidden findings are the parts of a paired rule (an AWS secret key beside its key id): they are
    # secrets when a credential was found, and only then (alone, many are ids or host names).
    for finding in visible if len(visible) == len(found) or not visible else found:
        location = finding.location
        start, end = int(location["start_offset"]), int(location["end_offset"])
        if 0 <= start < end <= len(data):
            spans.append((start, end, _rule_type(finding.rule_id)))
    return spans


def _aws_key_spans(data: bytes, taken: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """AWS key ids and secret keys by detect-secrets' AWSKeyDetector patterns, where Kingfisher found none.

    Kingfisher reports an AWS key id only beside its secret key; an id alone (a config file, a
    test fixture) still names an account's credential, and gitleaks and detect-secrets flag it.
    """
    spans: list[tuple[int, int, str]] = []
    for pattern in _scanners.aws():
        for match in pattern.finditer(data):
            start, end = match.span(match.lastindex or 0)
            if not any(s < end and start < e for s, e, _ in taken + spans):
                spans.append((start, end, "aws-access-token" if match.lastindex is None else "aws-secret-access-key"))
    return spans


def _rule_type(rule_id: str) -> str:
    for prefix in _RULE_PREFIXES:
        if rule_id.startswith(prefix):
            return rule_id[len(prefix):]
    return rule_id


def _keyword_spans(text: str, data: bytes, path: str, taken: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Values detect-secrets' KeywordDetector finds, that no Kingfisher span already covers."""
    detector, names, names_any_case = _scanners.keyword()
    lowered = text.lower()
    if len(lowered) != len(text):  # a few letters lower-case to two characters: offsets would shift
        lowered, names = text, names_any_case
    if not names.search(lowered):
        return []
    from detect_secrets.filters import heuristic
    from detect_secrets.filters.allowlist import is_line_allowlisted
    from detect_secrets.util.code_snippet import CodeSnippet

    if heuristic.is_lock_file(path) or heuristic.is_swagger_file(path):
        return []
    lines = split_lines(text)
    char_starts = _line_starts_chars(lines)
    spans: list[tuple[int, int, str]] = []
    seen: set[int] = set()
    for match in names.finditer(lowered):
        row = bisect.bisect_right(char_starts, match.start()) - 1
        if row in seen:
            continue
        seen.add(row)
        line = lines[row].rstrip("\r\n")
        previous = lines[row - 1].rstrip("\r\n") if row else ""
        context = CodeSnippet([previous, line], row, 1)
        for secret in detector.analyze_line(filename=path or "text", line=line, line_number=row + 1, context=context):
            value = secret.secret_value
            if not value or _is_not_a_secret(heuristic, value, line, detector):
                continue
            if is_line_allowlisted(path or "text", line, context):
                continue
            row_start = len(text[: char_starts[row]].encode("utf-8", "surrogatepass"))
            for at in _occurrences(line, value):
                start = row_start + len(line[:at].encode("utf-8", "surrogatepass"))
                end = start + len(value.encode("utf-8", "surrogatepass"))
                if not any(s < end and start < e for s, e, _ in taken):
                    spans.append((start, end, KEYWORD_TYPE))
    return spans


def _is_not_a_secret(heuristic: Any, value: str, line: str, detector: Any) -> bool:
    """detect-secrets' default heuristic filters, as its own scan applies them."""
    return bool(
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_likely_id_string(value, line, detector)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_indirect_reference(line)
        or heuristic.is_not_alphanumeric_string(value)
    )


def _occurrences(line: str, value: str) -> list[int]:
    out, at = [], line.find(value)
    while at >= 0:
        out.append(at)
        at = line.find(value, at + len(value))
    return out


def _line_starts_chars(lines: list[str]) -> list[int]:
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line)
    return starts


def _apply(data: bytes, spans: list[tuple[int, int, str]], path: str) -> tuple[str, list[Finding]]:
    """``data`` with each span (merged where they overlap) replaced by its marker, line breaks kept."""
    merged: list[list[Any]] = []
    for start, end, kind in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            continue
        merged.append([start, end, kind])
    out: list[bytes] = []
    findings: list[Finding] = []
    at = 0
    line = 1
    for start, end, kind in merged:
        line += data.count(b"\n", at, start)
        findings.append(Finding(path, line, kind))
        secret = data[start:end]
        out.append(data[at:start])
        # One marker, then the secret's own line breaks: the text keeps its line count.
        breaks = secret.count(b"\n")
        ending = b"\r\n" if b"\r\n" in secret else b"\n"
        out.append(MARKER.format(type=kind).encode() + ending * breaks)
        line += breaks
        at = end
    out.append(data[at:])
    return b"".join(out).decode("utf-8", "surrogatepass"), findings
