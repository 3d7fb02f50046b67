"""The MCP server, through the SDK's own client: in memory, over stdio in a subprocess, over streamable HTTP.

Every tool is called in memory; a real subprocess is driven over stdio (tool list, a pack within
its budget, an edit between two calls seen by the second, nothing but JSON-RPC on stdout, 1,000
malformed messages answered while it keeps serving) and one over streamable HTTP on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from exocortex.api import Index
from exocortex.errors import NoMatchesError
from exocortex.mcp import Workspace, build_server
from exocortex.tokens import count_tokens

CODE_TOOLS = {"pack_context", "search_code", "read_range", "repo_map", "find_symbol", "find_references",
              "index_status", "reindex"}


@pytest.fixture
def indexed_repo(sample_repo: Path) -> Path:
    Index.open(sample_repo).update()
    return sample_repo


@asynccontextmanager
async def connected(root: Path, **options: Any) -> AsyncIterator[Client]:
    workspace = Workspace(root, watch=options.pop("watch", True),
                          max_answer_tokens=options.pop("max_answer_tokens", None))
    server = build_server(root, workspace=workspace, **options)
    try:
        async with Client(server) as client:
            yield client
    finally:
        workspace.close()


def run(test: Callable[[], Any]) -> Any:
    return anyio.run(test)


def data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def error_text(result: Any) -> str:
    assert result.is_error, result.structured_content
    return str(result.content[0].text)


# --- every tool, in memory ----------------------------------------------------------------------


def test_every_tool_answers_in_memory(indexed_repo: Path) -> None:
    async def scenario() -> None:
        async with connected(indexed_repo) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert set(tools) == CODE_TOOLS  # no variant tools: this store holds no variants
            for tool in tools.values():
                assert tool.description and tool.input_schema["type"] == "object"

            pack = data(await client.call_tool("pack_context", {"query": "slugify the user name", "budget": 600}))
            assert pack["tokens"] <= 600 == pack["budget"]
            assert count_tokens(pack["text"]) == pack["tokens"]
            assert "slugify" in pack["text"]
            assert pack["index"]["root"] == str(indexed_repo) and "age_s" in pack["index"]

            found = data(await client.call_tool("search_code", {"query": "slugify", "k": 2}))
            assert found["results"][0]["path"] == "app/util.py"
            assert "def slugify" in found["results"][0]["snippet"]
            assert found["index"]["changed_files"] == 0

            lines = data(await client.call_tool("read_range", {"path": "app/util.py", "start_line": 4,
                                                               "end_line": 6}))
            assert lines["text"].splitlines()[0].startswith("def slugify")

            outline = data(await client.call_tool("repo_map", {"budget": 300}))
            assert outline["tokens"] <= 300 and "app/models.py" in outline["text"]

            symbols = data(await client.call_tool("find_symbol", {"name": "slugify"}))["symbols"]
            assert symbols[0]["path"] == "app/util.py"
            refs = data(await client.call_tool("find_references", {"symbol": "slugify"}))["references"]
            assert any(ref["path"] == "app/models.py" for ref in refs)

            status = data(await client.call_tool("index_status", {}))
            assert status["files"] >= 3 and status["watching"] is True
            report = data(await client.call_tool("reindex", {}))
            assert report["processed"] == 0

    run(scenario)


def test_search_code_pages_with_a_cursor(indexed_repo: Path) -> None:
    async def scenario() -> None:
        async with connected(indexed_repo) as client:
            first = data(await client.call_tool("search_code", {"query": "user name slug", "k": 1}))
            assert first["next_cursor"] == "1"
            second = data(await client.call_tool("search_code", {"query": "user name slug", "k": 1,
                                                                 "cursor": first["next_cursor"]}))
            assert second["results"][0] != first["results"][0]
            bad = await client.call_tool("search_code", {"query": "user", "cursor": "banana"})
            assert "cursor" in error_text(bad)

    run(scenario)


@pytest.mark.parametrize("watch", [True, False], ids=["watcher", "scan"])
def test_an_edit_is_in_the_very_next_answer(indexed_repo: Path, watch: bool) -> None:
    async def scenario() -> None:
        async with connected(indexed_repo, watch=watch) as client:
            data(await client.call_tool("search_code", {"query": "slugify"}))
            (indexed_repo / "app" / "billing.py").write_text("def invoice_total_cents(items):\n    return 0\n")
            found = data(await client.call_tool("search_code", {"query": "invoice_total_cents"}))
            assert found["results"][0]["path"] == "app/billing.py"
            assert found["index"]["changed_files"] == 1
            assert found["index"]["checked"] == ("watcher" if watch else "scan")
            (indexed_repo / "app" / "billing.py").unlink()
            gone = await client.call_tool("find_symbol", {"name": "invoice_total_cents"})
            assert gone.is_error and "exit 12" in error_text(gone)

    run(scenario)


def test_variant_tools_only_when_asked_or_present(indexed_repo: Path) -> None:
    async def scenario() -> None:
        async with connected(indexed_repo, variants=True) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"vcf_query", "vcf_stats"} <= names

    run(scenario)


# --- bad input: an error result, and the server keeps serving ----------------------------------------


def test_bad_arguments_get_error_results_and_the_server_keeps_serving(indexed_repo: Path) -> None:
    outside = indexed_repo.parent / "secret.txt"
    outside.write_text("not yours\n")
    (indexed_repo / "link.txt").symlink_to(outside)

    async def scenario() -> None:
        async with connected(indexed_repo, max_answer_tokens=1000) as client:
            cases = [
                ("no_such_tool", {}, "Unknown tool"),
                ("pack_context", {"query": 5}, "valid string"),
                ("pack_context", {"query": "x", "budget": "lots"}, "valid integer"),
                ("pack_context", {"query": "slug", "bogus": 1}, ""),
                ("pack_context", {"query": "slugify", "budget": 5000}, "over the answer cap"),
                ("pack_context", {"query": "   ", "budget": 500}, "exit 12"),
                ("search_code", {"query": ""}, "exit 12"),
                ("search_code", {"query": "slugify", "k": 0}, "greater than or equal to 1"),
                ("read_range", {"path": "../secret.txt", "start_line": 1, "end_line": 1}, "exit 3"),
                ("read_range", {"path": str(outside), "start_line": 1, "end_line": 1}, "exit 3"),
                ("read_range", {"path": "link.txt", "start_line": 1, "end_line": 1}, "exit 3"),
                ("read_range", {"path": "app/util.py", "start_line": 5, "end_line": 2}, "exit 2"),
                ("read_range", {"path": "app/nope.py", "start_line": 1, "end_line": 2}, "exit 3"),
                ("find_symbol", {"name": ""}, "exit 2"),
            ]
            for name, arguments, words in cases:
                result = await client.call_tool(name, arguments)
                if name == "pack_context" and "bogus" in arguments:
                    continue  # an unknown extra argument may be ignored; the call must not crash the server
                assert words in error_text(result), (name, arguments)
            assert "not yours" not in json.dumps([str(c) for c in cases])
            still = data(await client.call_tool("search_code", {"query": "slugify"}))
            assert still["results"]

    run(scenario)


def test_a_deleted_root_is_an_error_not_a_crash(indexed_repo: Path) -> None:
    async def scenario() -> None:
        async with connected(indexed_repo, watch=False) as client:
            data(await client.call_tool("index_status", {}))
            shutil.rmtree(indexed_repo)
            result = await client.call_tool("search_code", {"query": "slugify"})
            assert "no longer exists" in error_text(result)
            assert (await client.list_tools()).tools

    run(scenario)


def test_an_answer_over_the_cap_is_refused_not_cut(indexed_repo: Path) -> None:
    async def scenario() -> None:
        async with connected(indexed_repo, max_answer_tokens=150) as client:
            result = await client.call_tool("read_range", {"path": "app/models.py", "start_line": 1, "end_line": 400})
            assert "over the cap" in error_text(result) or data(result)["tokens"] <= 150

    run(scenario)


# --- a real subprocess over stdio ---------------------------------------------------------------------


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("EXOCORTEX_STORE", None)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_stdio_subprocess_through_the_sdk_client(indexed_repo: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "exocortex.cli", "mcp", str(indexed_repo)],
                                   env=_server_env())

    async def scenario() -> None:
        async with Client(params, read_timeout_seconds=60) as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == CODE_TOOLS
            pack = data(await client.call_tool("pack_context", {"query": "greet a user", "budget": 400}))
            assert pack["tokens"] <= 400
            (indexed_repo / "app" / "models.py").write_text("def brand_new_function_xyz():\n    pass\n")
            found = data(await client.call_tool("search_code", {"query": "brand_new_function_xyz"}))
            assert found["results"][0]["path"] == "app/models.py"

    run(scenario)


def _jsonrpc(method: str, params: dict[str, Any] | None = None, ident: int | None = None) -> str:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if ident is not None:
        message["id"] = ident
    return json.dumps(message) + "\n"


def test_stdio_stdout_holds_only_protocol_messages_even_after_malformed_input(indexed_repo: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "exocortex.cli", "mcp", str(indexed_repo), "--no-watch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_server_env())
    try:
        assert proc.stdin is not None and proc.stdout is not None
        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
        garbage = ["{", "not json", "[]", '{"jsonrpc": "2.0"}', '{"jsonrpc": "1.0", "id": 1, "method": 3}', "\x00"]
        lines = [_jsonrpc("initialize", init, 1), _jsonrpc("notifications/initialized", {})]
        lines += [garbage[i % len(garbage)] + "\n" for i in range(1000)]
        lines += [_jsonrpc("tools/call", {"name": "pack_context", "arguments": {"query": "slugify", "budget": 300}}, 2),
                  _jsonrpc("tools/call", {"name": "read_range", "arguments": {"path": "../x", "start_line": 1,
                                                                              "end_line": 1}}, 3)]
        proc.stdin.write("".join(lines))
        proc.stdin.flush()
        answers: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 120
        while len(answers) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            message = json.loads(line)  # every stdout line is JSON-RPC: anything else fails here
            assert message.get("jsonrpc") == "2.0"
            if message.get("id") in (1, 2, 3):
                answers[message["id"]] = message
        assert set(answers) == {1, 2, 3}
        packed = answers[2]["result"]
        assert not packed.get("isError") and packed["structuredContent"]["tokens"] <= 300
        assert answers[3]["result"]["isError"] and "exit 3" in answers[3]["result"]["content"][0]["text"]
    finally:
        proc.kill()
        proc.wait()


# --- streamable HTTP on loopback -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(root: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "exocortex.cli", "mcp", str(root), "--transport",
                             "streamable-http", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_server_env())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_streamable_http_on_loopback(indexed_repo: Path) -> None:
    with http_server(indexed_repo) as url:
        async def scenario() -> None:
            async with Client(url, read_timeout_seconds=60) as client:
                assert {tool.name for tool in (await client.list_tools()).tools} == CODE_TOOLS
                pack = data(await client.call_tool("pack_context", {"query": "slugify", "budget": 300}))
                assert pack["tokens"] <= 300

        run(scenario)


def test_secrets_stay_out_of_mcp_answers(sample_repo: Path) -> None:
    key_id = "AKIA" + "Q3EGRIT7" + "Z5KXPL4M"
    token = "ghp_" + "R7q2Lm9XzT4vBn8KcW1pY6sD3fHj0aEu5GoN"
    (sample_repo / "app" / "settings.py").write_text(
        f'"""Deployment settings."""\nAWS_ACCESS_KEY_ID = "{key_id}"\nGITHUB_TOKEN = "{token}"\n'
        "def deployment_region():\n    return 'eu-west-1'\n")
    Index.open(sample_repo).update()

    async def scenario() -> None:
        async with connected(sample_repo) as client:
            answers = [
                await client.call_tool("read_range", {"path": "app/settings.py", "start_line": 1, "end_line": 5}),
                await client.call_tool("search_code", {"query": "AWS_ACCESS_KEY_ID GITHUB_TOKEN settings"}),
                await client.call_tool("pack_context", {"query": "deployment settings keys", "budget": 2000}),
            ]
            for answer in answers:
                text = json.dumps(data(answer))
                assert key_id not in text and token not in text
            assert data(answers[0])["redacted"] == 2
            assert data(answers[2])["redacted"]["count"] >= 2

    run(scenario)


@pytest.mark.filterwarnings("ignore:The roots capability is deprecated")  # still what Claude Code and Cursor send
def test_the_root_comes_from_the_clients_mcp_roots(indexed_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    from mcp.types import ListRootsResult, Root

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory holds no index: only the client's root does
    asked: list[bool] = []

    async def roots(_context: Any) -> ListRootsResult:
        asked.append(True)
        return ListRootsResult(roots=[Root(uri=indexed_repo.as_uri(), name="repo")])

    async def scenario() -> None:
        workspace = Workspace(None, watch=False)
        try:
            async with Client(build_server(None, workspace=workspace), list_roots_callback=roots,
                              mode="legacy") as client:
                status = data(await client.call_tool("index_status", {}))
                assert status["root"] == str(indexed_repo) and asked
        finally:
            workspace.close()

    run(scenario)


def test_exocortex_watch_reindexes_what_changes(indexed_repo: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "exocortex.cli", "watch", str(indexed_repo), "--jsonl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_server_env())
    try:
        assert proc.stderr is not None and "watching" in proc.stderr.readline()
        (indexed_repo / "app" / "ledger.py").write_text("def post_entry(amount):\n    return amount\n")
        assert proc.stdout is not None
        update = json.loads(proc.stdout.readline())
        assert update["changed_paths"] == ["app/ledger.py"] and update["checked"] == "watcher"
        assert Index.open(indexed_repo, refresh_before_answer=False).find_symbol("post_entry")
        proc.terminate()
        assert proc.wait(timeout=30) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_running_watch_process_spares_other_processes_the_walk(indexed_repo: Path) -> None:
    """With `exocortex watch` running, another process's answer asks it instead of walking the tree,
    and still sees an edit made just before the question."""
    proc = subprocess.Popen([sys.executable, "-m", "exocortex.cli", "watch", str(indexed_repo), "--jsonl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_server_env())
    try:
        assert proc.stderr is not None and "watching" in proc.stderr.readline()
        index = Index.open(indexed_repo)
        assert index.search("slugify")[0].path == "app/util.py"
        assert index.freshness is not None and index.freshness.checked == "watch process"
        (indexed_repo / "app" / "audit.py").write_text("def record_audit_trail(event):\n    return event\n")
        assert index.search("record_audit_trail")[0].path == "app/audit.py"
        assert index.freshness.checked == "watch process"  # the update was the watch process's, not this one's
        proc.terminate()
        assert proc.wait(timeout=30) == 143
        assert not (indexed_repo / ".exocortex" / "watching").exists()  # withdrawn: answers walk again
        (indexed_repo / "app" / "audit.py").unlink()
        with pytest.raises(NoMatchesError):
            index.search("record_audit_trail")
        assert index.freshness.checked == "scan"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
