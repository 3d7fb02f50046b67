"""Secrets stay out of packs: realistic fake secrets in a repository the test writes, redacted in every format.

The secrets are put together at run time, so this file holds none of them verbatim (a scanner run
over this repository, or a pack of it, finds nothing here).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path

import pytest

from exocortex import Index
from exocortex.cli import main
from exocortex.pack.redact import Finding, redact_text
from exocortex.tokens import count_tokens

from .samples import write_tree
from .test_pack import blocks_of

AWS_KEY_ID = "AKIA" + "Q3EGRIT7" + "Z5KXPL4M"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzQ8R2LHT0w"
GITHUB_TOKEN = "ghp_" + "R7q2Lm9XzT4vBn8KcW1pY6sD3fHj0aEu5GoN"
SLACK_WEBHOOK = "https://hooks.slack.com/services/" + "T0A1B2C3D/B0E4F5G6H/" + "x1Y2z3A4b5C6d7E8f9G0h1I2"
PASSWORD = "Sup3rS3cret" + "Passw0rd!"
_KEY_BODY = base64.b64encode(hashlib.sha512(b"not a real key").digest() * 12).decode()
_KEY_LINES = [_KEY_BODY[i : i + 64] for i in range(0, len(_KEY_BODY), 64)]
PRIVATE_KEY = ("-----BEGIN RSA " + "PRIVATE KEY-----\n" + "\n".join(_KEY_LINES)
               + "\n-----END RSA " + "PRIVATE KEY-----\n")
SECRETS = [AWS_KEY_ID, AWS_SECRET, GITHUB_TOKEN, SLACK_WEBHOOK, PASSWORD, *_KEY_LINES]

# Ordinary code that looks random: hashes, a UUID, a base64 test vector. Redaction leaves it alone.
SHA256 = hashlib.sha256(b"abc").hexdigest()
MD5 = hashlib.md5(b"abc").hexdigest()
UUID = str(uuid.UUID(int=12345678901234567890))
VECTOR = base64.b64encode(bytes(range(48))).decode()
ORDINARY = [SHA256, MD5, UUID, VECTOR]

FILES = {
    "config/settings.ini": f"[aws]\naws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = {AWS_SECRET}\n"
                           "region = eu-west-1\n",
    "deploy/key.pem": PRIVATE_KEY,
    "scripts/release.py": f'import os\n\nGITHUB_TOKEN = "{GITHUB_TOKEN}"\n\n\ndef notify():\n'
                          f'    url = "{SLACK_WEBHOOK}"\n    return url\n',
    "app/db.py": f'def connect():\n    password = "{PASSWORD}"\n    return open_db(user="admin", password=password)\n',
    "tests/test_vectors.py": f'import hashlib\n\nSHA = "{SHA256}"\nMD5 = "{MD5}"\nUUID = "{UUID}"\n'
                             f'VECTOR = "{VECTOR}"\n\n\ndef test_hash():\n'
                             '    assert hashlib.sha256(b"abc").hexdigest() == SHA\n',
}
EXPECTED = {
    ("config/settings.ini", 2, "aws-access-token"),
    ("config/settings.ini", 3, "aws-secret-access-key"),
    ("deploy/key.pem", 1, "private-key"),
    ("scripts/release.py", 3, "github-pat"),
    ("scripts/release.py", 7, "slack-webhook-url"),
    ("app/db.py", 2, "secret-keyword"),
}
QUERY = "aws key github token slack webhook password connect notify hash vectors"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secrets") / "repo"
    root.mkdir()
    write_tree(root, FILES)
    Index.open(root).update()
    return root


def _where(pack_dict: dict) -> set[tuple[str, int, str]]:
    return {(w["path"], w["line"], w["type"]) for w in pack_dict["redacted"]["where"]}


@pytest.mark.parametrize("fmt", ["markdown", "xml", "json"])
def test_no_secret_reaches_a_pack_and_each_is_reported(repo: Path, fmt: str) -> None:
    pack = Index.open(repo).pack(QUERY, "20k", format=fmt)
    assert {item.path for item in pack.items} == set(FILES)  # every file is in, whole
    document = pack.to_json()
    for secret in SECRETS:
        assert secret not in pack.text and secret not in document
    data = json.loads(document)
    assert data["redacted"]["enabled"] is True and data["redacted"]["count"] == len(EXPECTED)
    assert _where(data) == EXPECTED
    for path, _, kind in EXPECTED:
        assert f"[REDACTED:{kind}]" in pack.text, (path, kind)
    for value in ORDINARY:  # hashes, the UUID and the test vector are not secrets
        assert value in pack.text
    assert pack.tokens == count_tokens(pack.text) <= 20_000


def test_a_redacted_block_keeps_its_lines_so_its_label_holds(repo: Path) -> None:
    for fmt in ("markdown", "xml"):
        pack = Index.open(repo).pack(QUERY, "20k", format=fmt)
        blocks = {path: (label, body) for path, label, body in blocks_of(pack)}
        label, body = blocks["deploy/key.pem"]
        assert label == f"1-{len(_KEY_LINES) + 2}"
        assert body.count("\n") == len(_KEY_LINES) + 2 and body.startswith("[REDACTED:private-key]\n")
        label, body = blocks["config/settings.ini"]
        assert label == "1-4"
        assert body.splitlines()[2] == "aws_secret_access_key = [REDACTED:aws-secret-access-key]"


def test_no_redact_keeps_the_text_as_it_is(repo: Path) -> None:
    pack = Index.open(repo).pack(QUERY, "20k", redact=False)
    for secret in SECRETS:
        assert secret in pack.text
    assert pack.redactions == () and pack.to_dict()["redacted"] == {"enabled": False, "count": 0, "where": []}


def test_the_budget_holds_with_redaction_at_every_size(repo: Path) -> None:
    index = Index.open(repo)
    for budget in (60, 90, 130, 200, 300, 500, 800, 1500):
        for fmt in ("markdown", "xml"):
            try:
                pack = index.pack(QUERY, budget, format=fmt)
            except Exception as exc:  # noqa: BLE001  (only a budget too small for the outline is allowed)
                assert type(exc).__name__ == "BudgetTooSmallError"
                continue
            assert pack.tokens == count_tokens(pack.text) <= budget
            for secret in SECRETS:
                assert secret not in pack.text
            assert {(w["path"], w["line"], w["type"]) for w in pack.redactions} <= EXPECTED


def test_a_pinned_file_is_redacted_too(repo: Path) -> None:
    pack = Index.open(repo).pack("hash vectors", "4k", pin=["deploy/key.pem"], include=["tests/"])
    assert pack.items[0].path == "deploy/key.pem"
    assert not any(line in pack.text for line in _KEY_LINES)
    assert {(w["path"], w["type"]) for w in pack.redactions} == {("deploy/key.pem", "private-key")}


def test_cli_reports_redactions_on_stderr_and_no_redact_keeps_them(repo: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pack", QUERY, "-C", str(repo), "--budget", "20k"]) == 0
    captured = capsys.readouterr()
    assert not any(secret in captured.out for secret in SECRETS)
    assert "[REDACTED:github-pat]" in captured.out and "redacted" not in captured.out.split("```")[0]
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("exocortex: redacted 6 secrets (")
    for path, row, _ in EXPECTED:
        assert f"{path}:{row}" in line

    assert main(["pack", QUERY, "-C", str(repo), "--budget", "20k", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert _where(json.loads(captured.out)) == EXPECTED

    assert main(["pack", QUERY, "-C", str(repo), "--budget", "20k", "--no-redact"]) == 0
    captured = capsys.readouterr()
    assert all(secret in captured.out for secret in SECRETS) and captured.err == ""


# --- redact_text, the function the MCP server calls ---------------------------------------------------------


def test_redact_text_returns_the_text_unchanged_when_there_is_nothing_to_redact() -> None:
    text = "".join(f'{name} = "{value}"\n' for name, value in zip("abcd", ORDINARY, strict=True))
    out, findings = redact_text(text, "vectors.py")
    assert out is text and findings == []
    assert redact_text("", "x.py") == ("", [])


def test_redact_text_keeps_the_line_count_and_gives_lines_and_types() -> None:
    text = "header\n" + FILES["scripts/release.py"] + FILES["deploy/key.pem"] + "footer\n"
    out, findings = redact_text(text, "mixed.py")
    assert out.count("\n") == text.count("\n") and out.endswith("footer\n")
    assert findings == [Finding("mixed.py", 4, "github-pat"), Finding("mixed.py", 8, "slack-webhook-url"),
                        Finding("mixed.py", 10, "private-key")]
    assert findings[0].to_dict() == {"path": "mixed.py", "line": 4, "type": "github-pat"}
    assert not any(secret in out for secret in SECRETS)


def test_redact_text_handles_crlf_and_non_ascii_text() -> None:
    text = f"# héllo ✓ İstanbul\r\npassword = \"{PASSWORD}\"\r\ntoken = \"{GITHUB_TOKEN}\"  # ✓\r\n"
    out, findings = redact_text(text, "app.py")
    assert out == ('# héllo ✓ İstanbul\r\npassword = "[REDACTED:secret-keyword]"\r\n'
                   'token = "[REDACTED:github-pat]"  # ✓\r\n')
    assert [(f.line, f.type) for f in findings] == [(2, "secret-keyword"), (3, "github-pat")]


def test_the_library_heuristics_leave_placeholders_alone() -> None:
    text = ('password = "${DB_PASSWORD}"\npassword = "{{ password }}"\npassword = get_password()\n'
            'api_key = "q8Zr2LxWp"  # pragma: allowlist secret\n')
    out, findings = redact_text(text, "settings.py")
    assert findings == [] and out == text


def test_an_aws_key_id_alone_is_redacted() -> None:
    """Kingfisher reports a key id only beside its secret; detect-secrets' AWS patterns take the id alone."""
    text, findings = redact_text(f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"\nREGION = "eu-west-1"\n', "settings.py")
    assert AWS_KEY_ID not in text and "eu-west-1" in text
    assert [(f.line, f.type) for f in findings] == [(1, "aws-access-token")]
