"""``exocortex mcp`` (serve the index to an agent), ``exocortex mcp install`` and ``exocortex watch``."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from exocortex.cli.app import StoreOpt, app, store_option
from exocortex.cli.output import (
    DebugOpt,
    JsonOpt,
    configure_logging,
    err,
    out,
    print_json,
    printable,
    write_atomically,
)
from exocortex.errors import ConfigError, InputPathError, UsageError

CLIENTS = ("claude-code", "cursor", "vscode", "codex")
TRANSPORTS = ("stdio", "streamable-http")


@app.command("mcp")
def mcp_command(
    path: Annotated[str, typer.Argument(help="The repository to serve (default: the client's root, else .); "
                                             "or `install` to write a client's configuration.")] = "",
    transport: Annotated[str, typer.Option("--transport", help="stdio or streamable-http.")] = "stdio",
    host: Annotated[str, typer.Option("--host", help="Address for streamable-http.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port for streamable-http.")] = 8765,
    store: StoreOpt = None,
    variants: Annotated[
        bool | None, typer.Option("--variants/--no-variants", help="Offer the variant tools (default: when the "
                                                                   "store holds variants).")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch/--no-watch", help="Follow file changes (default on).")] = True,
    max_answer_tokens: Annotated[
        int | None, typer.Option("--max-answer-tokens", help="Cap of one tool result (default 20,000).")
    ] = None,
    client: Annotated[str | None, typer.Option("--client", help="For `mcp install`: " + ", ".join(CLIENTS))] = None,
    force: Annotated[bool, typer.Option("--force", help="For `mcp install`: replace an existing entry.")] = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Serve the index over MCP (stdio by default); `exocortex mcp install --client NAME` configures a client."""
    configure_logging("debug" if debug else "warning")
    if path == "install":
        _install(client, store, force=force, as_json=as_json)
        return
    if client is not None:
        raise UsageError("--client belongs to `exocortex mcp install`")
    if transport not in TRANSPORTS:
        raise UsageError(f"unknown transport {transport!r} (choose {' or '.join(TRANSPORTS)})")
    if max_answer_tokens is not None:
        from exocortex.config import check_setting

        check_setting("mcp_max_answer_tokens", max_answer_tokens, origin="--max-answer-tokens")
    from exocortex.api import resolve_root
    from exocortex.mcp import Workspace, build_server

    root = path or None
    if root is not None:
        _index_if_missing(root, store_option(store))
    workspace = Workspace(resolve_root(root) if root else None, store=store_option(store), watch=watch,
                          max_answer_tokens=max_answer_tokens)
    server = build_server(root, store=store_option(store), variants=variants, workspace=workspace)
    try:
        if transport == "stdio":
            server.run("stdio")
        else:
            err.print(f"exocortex: MCP over streamable HTTP at http://{host}:{port}/mcp", highlight=False,
                      markup=False)
            server.run("streamable-http", host=host, port=port)
    finally:
        workspace.close()


def _index_if_missing(root: str, store: str | None) -> None:
    """Index ``root`` before serving it when it has no index yet (progress and errors on stderr)."""
    from exocortex.api import Index
    from exocortex.store.meta import META_FILE

    index = Index.find(root, store=store)
    if not (index.store / META_FILE).is_file():
        err.print(f"exocortex: indexing {printable(index.root)} before serving it", highlight=False, markup=False)
        index.update()


@app.command("watch")
def watch_command(
    path: Annotated[str, typer.Argument(help="The repository to follow.")] = ".",
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--jsonl", "--json", help="One JSON object per update.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Keep the index current: re-index what changes on disk, debounced, until Ctrl-C."""
    from exocortex.api import Index

    configure_logging("debug" if debug else "warning")
    index = Index.find(path, store=store_option(store))
    _index_if_missing(str(index.root), store_option(store))
    from exocortex.indexing.watch import acknowledge, announce, withdraw

    watcher = index.watch()
    announce(index.store)
    err.print(f"exocortex: watching {printable(index.root)} (Ctrl-C to stop)", highlight=False, markup=False)
    try:
        while True:
            if not watcher.alive:
                raise InputPathError(f"the file watcher of {index.root} stopped")
            if not watcher.wait_for_changes(1.0):
                continue
            requests = watcher.take_requests()
            if not requests:
                time.sleep(index.config.watch_debounce_ms / 1000)  # let a burst of saves land together
            fresh = index.refresh()
            requests |= watcher.take_requests()
            if requests:  # other processes' answers wait on this one: the index is current now
                acknowledge(index.store, requests, fresh.to_dict())
            if fresh.changed_files == 0:
                continue
            if as_json:
                sys.stdout.write(json.dumps(fresh.to_dict()) + "\n")
                sys.stdout.flush()
            else:
                shown = ", ".join(printable(p) for p in fresh.changed_paths[:5])
                more = f" and {fresh.changed_files - 5} more" if fresh.changed_files > 5 else ""
                out.print(f"updated {fresh.changed_files} file(s) in {fresh.refresh_s:.2f} s: {shown}{more}",
                          highlight=False, markup=False)
    finally:
        withdraw(index.store)
        index.stop_watching()


# --- mcp install ------------------------------------------------------------------------------


def _server_command() -> list[str]:
    """How a client starts this server: the ``exocortex`` program beside this Python, else on PATH."""
    import shutil

    beside = Path(sys.executable).parent / "exocortex"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("exocortex")
    return [found] if found else [sys.executable, "-m", "exocortex.cli"]


def install_entry(client: str, root: Path, store: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Where ``client`` keeps its MCP servers, and the entry that runs this server on ``root``."""
    command, *pre = _server_command()
    args = [*pre, "mcp", str(root)] + (["--store", str(Path(store).resolve())] if store else [])
    if client == "claude-code":
        return root / ".mcp.json", {"command": command, "args": args}
    if client == "cursor":
        return root / ".cursor" / "mcp.json", {"command": command, "args": args}
    if client == "vscode":
        return root / ".vscode" / "mcp.json", {"type": "stdio", "command": command, "args": args}
    if client == "codex":
        home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
        return home / "config.toml", {"command": command, "args": args}
    raise UsageError(f"unknown client {client!r} (choose from {', '.join(CLIENTS)})")


def _install(client: str | None, store: str | None, *, force: bool, as_json: bool) -> None:
    from exocortex.api import resolve_root

    if client is None:
        raise UsageError(f"pass --client ({', '.join(CLIENTS)})")
    root = resolve_root(".")
    target, entry = install_entry(client, root, store_option(store))
    if client == "codex":
        text = _codex_config(target, entry, force=force)
    else:
        text = _json_config(target, "servers" if client == "vscode" else "mcpServers", entry, force=force)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, text)
    if as_json:
        print_json({"client": client, "file": str(target), "entry": entry})
    else:
        runs = " ".join([entry["command"], *entry["args"]])
        out.print(f"configured {client}: {printable(target)} runs {printable(runs)}", highlight=False, markup=False)


def _json_config(target: Path, key: str, entry: dict[str, Any], *, force: bool) -> str:
    data: dict[str, Any] = {}
    if target.exists():
        try:
            data = json.loads(target.read_text(encoding="utf-8") or "{}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{target} is not valid JSON ({exc}): fix or remove it, then run again") from None
        if not isinstance(data, dict) or not isinstance(data.get(key, {}), dict):
            raise ConfigError(f"{target}: expected an object with a {key!r} object")
    servers = data.setdefault(key, {})
    if "exocortex" in servers and servers["exocortex"] != entry and not force:
        raise ConfigError(f"{target} already has an 'exocortex' server: pass --force to replace it")
    servers["exocortex"] = entry
    return json.dumps(data, indent=2) + "\n"


def _codex_config(target: Path, entry: dict[str, Any], *, force: bool) -> str:
    import tomllib

    text = target.read_text(encoding="utf-8") if target.exists() else ""
    try:
        existing = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{target} is not valid TOML ({exc}): fix it, then run again") from None
    section = "[mcp_servers.exocortex]"
    block = f"{section}\ncommand = {json.dumps(entry['command'])}\nargs = {json.dumps(entry['args'])}\n"
    if "exocortex" in existing.get("mcp_servers", {}):
        if existing["mcp_servers"]["exocortex"] == entry:
            return text  # already so: nothing to change
        if not force:
            raise ConfigError(f"{target} already has [mcp_servers.exocortex]: pass --force to replace it")
        lines = text.splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.strip() == section)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        return "".join(lines[:start]) + block + "".join(lines[end:])
    return text + ("\n" if text and not text.endswith("\n\n") else "") + block
