"""The exocortex MCP server: each tool is one call into the Python API.

Built on the official SDK's ``MCPServer``. What every tool shares lives in :class:`Workspace`:
the root (given, else the client's first MCP root, else the working directory), the open
:class:`~exocortex.api.Index` with its file watcher, the answer cap, and the translation of an
``ExocortexError`` into an MCP error result that carries the exit-code table's hint. The server
never writes anything but protocol messages to stdout: the SDK's stdio transport points fd 1 at
stderr while it serves, and logs go to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import unquote, urlparse

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from exocortex import __version__
from exocortex.errors import ExocortexError, InputPathError, UsageError, exit_code_hint

if TYPE_CHECKING:
    from exocortex.api import Index

T = TypeVar("T")

INSTRUCTIONS = (
    "exocortex indexes this repository and answers from an index that is brought up to date with the disk "
    "before every answer (each result's `index` says how current it is). Start with repo_map for an outline, "
    "search_code to locate code, pack_context for the context a task needs within a token budget, read_range "
    "to read exact lines before editing, find_symbol / find_references for definitions and uses."
)

SNIPPET_LINES = 6
SNIPPET_CHARS = 400


class Workspace:
    """What the tools share: the root, the index, the watcher and the answer cap."""

    def __init__(self, root: Path | None, *, store: str | None = None, watch: bool = True,
                 max_answer_tokens: int | None = None) -> None:
        self.given_root = root
        self.store = store
        self.watch = watch
        self._max_answer_tokens = max_answer_tokens
        self._index: Index | None = None
        self._lock = threading.Lock()

    # --- the index ------------------------------------------------------------------------------

    def index(self, client_root: Path | None = None) -> Index:
        """The index of the root: found (walking up) on first use, then kept, with its watcher."""
        from exocortex.api import Index

        if self._index is None:
            root = self.given_root or client_root or Path.cwd()
            self._index = Index.find(root, store=self.store)
            if self.watch and self._index.config.refresh_before_answer:
                with contextlib.suppress(Exception):  # no watcher: every answer walks the tree instead
                    self._index.watch()
        if not self._index.root.is_dir():
            raise InputPathError(f"the root {self._index.root} no longer exists: restart the server on a directory "
                                 "that does")
        return self._index

    @property
    def max_answer_tokens(self) -> int:
        if self._max_answer_tokens is not None:
            return self._max_answer_tokens
        if self._index is not None:
            return self._index.config.mcp_max_answer_tokens
        from exocortex.config import load_config

        return load_config().mcp_max_answer_tokens

    def close(self) -> None:
        if self._index is not None:
            self._index.stop_watching()

    # --- one answer -----------------------------------------------------------------------------

    def answer(self, ctx: Context[Any, Any] | None, call: Callable[[Index], dict[str, Any]]) -> dict[str, Any]:
        """Run ``call`` on the index (one tool call at a time), add ``index``, cap it, or raise a ToolError."""
        from mcp.server.mcpserver.exceptions import ToolError

        try:
            with self._lock:
                index = self.index(_client_root(ctx) if self._index is None and self.given_root is None else None)
                result = call(index)
                if index.freshness is not None:
                    result["index"] = index.freshness.to_dict()
            return self._capped(result)
        except ExocortexError as exc:
            raise ToolError(_error_text(exc)) from None
        except ToolError:
            raise
        except Exception as exc:  # a bug: the server keeps serving, the model gets one line
            raise ToolError(f"internal error: {type(exc).__name__}: {exc} (exit 1: {exit_code_hint(1)})") from None

    def _capped(self, result: dict[str, Any]) -> dict[str, Any]:
        from exocortex.tokens import count_tokens

        cap = self.max_answer_tokens
        text = json.dumps(result, ensure_ascii=False)
        # A token is at least one character of JSON text: a short answer needs no count.
        if len(text) <= cap:
            return result
        tokens = count_tokens(text)
        if tokens <= cap:
            return result
        raise UsageError(f"the answer would be {tokens:,} tokens, over the cap of {cap:,} "
                         "(mcp_max_answer_tokens): ask for less (a smaller budget, k or range)")


def _error_text(exc: ExocortexError) -> str:
    return f"{exc.message} (exit {exc.exit_code}: {exit_code_hint(exc.exit_code)})"


def _client_root(ctx: Context[Any, Any] | None) -> Path | None:
    """The first ``file://`` root the client declares, when it declares roots and answers in time."""
    if ctx is None:
        return None
    try:
        caps = ctx.client_capabilities
        if caps is None or caps.roots is None:
            return None
        import anyio.from_thread

        result = anyio.from_thread.run(ctx.session.list_roots)
    except Exception:  # noqa: BLE001  (no roots: the working directory)
        return None
    for root in result.roots:
        uri = urlparse(str(root.uri))
        if uri.scheme == "file":
            path = Path(unquote(uri.path))
            if path.is_dir():
                return path
    return None


def _snippet(index: Index, path: str, start: int, end: int) -> str:
    """The first lines of a hit, read fresh from disk (and redacted), cut to a few hundred characters."""
    from exocortex.pack.redact import redact_text

    try:
        with open(index.root / path, encoding="utf-8", errors="replace") as fh:
            lines = []
            for number, line in enumerate(fh, 1):
                if number > min(end, start + SNIPPET_LINES - 1):
                    break
                if number >= start:
                    lines.append(line.rstrip("\n"))
    except OSError:
        return ""
    text: str = redact_text("\n".join(lines), path)[0]
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"


Globs = Annotated[
    list[str] | None, Field(description="gitignore-style globs on root-relative paths, e.g. 'src/**/*.py'")
]


def build_server(
    root: str | os.PathLike[str] | None = None,
    *,
    store: str | None = None,
    variants: bool | None = None,
    watch: bool = True,
    max_answer_tokens: int | None = None,
    workspace: Workspace | None = None,
) -> MCPServer:
    """The MCP server over the index of ``root`` (None: the client's root, else the working directory).

    ``variants`` adds the variant tools (None: only when the store holds variants). Pass your own
    ``workspace`` to close it (and its file watcher) when the server ends; the other arguments
    then only decide the variant tools.
    """
    from mcp.server.mcpserver import MCPServer

    from exocortex.api import resolve_root

    where = resolve_root(root) if root is not None else None
    if workspace is None:
        workspace = Workspace(where, store=store, watch=watch, max_answer_tokens=max_answer_tokens)
    server: MCPServer = MCPServer("exocortex", version=__version__, instructions=INSTRUCTIONS,
                                  log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
    def pack_context(
        query: Annotated[str, Field(description="The task or question, in words (an issue text works well).")],
        ctx: Context,
        budget: Annotated[int, Field(ge=1, description="Hard token budget of the context.")] = 8000,
        tokenizer: Literal["o200k_base", "cl100k_base"] = "o200k_base",
        format: Literal["markdown", "xml"] = "markdown",
        include: Globs = None,
        exclude: Globs = None,
        pin: Annotated[list[str] | None, Field(description="Root-relative files to put in first.")] = None,
    ) -> dict[str, Any]:
        """The code and docs a task needs, ranked and fitted to a hard token budget.

        Each block shows its path and line range (`### path:151-178`); secrets are redacted.
        """
        def call(index: Index) -> dict[str, Any]:
            cap = workspace.max_answer_tokens
            if budget > cap:
                raise UsageError(f"budget {budget:,} is over the answer cap of {cap:,} tokens "
                                 "(mcp_max_answer_tokens): ask for at most that")
            pack = index.pack(query, budget, tokenizer=tokenizer, format=format, include=include, exclude=exclude,
                              pin=pin)
            return pack.to_dict()

        return workspace.answer(ctx, call)

    @server.tool(annotations=read_only)
    def search_code(
        query: Annotated[str, Field(description="Identifiers, an error message or a question.")],
        ctx: Context,
        k: Annotated[int, Field(ge=1, le=200, description="Hits per page.")] = 10,
        include: Globs = None,
        exclude: Globs = None,
        cursor: Annotated[str | None, Field(description="`next_cursor` of the previous page.")] = None,
    ) -> dict[str, Any]:
        """Ranked code locations for a query: path, line range, symbol, kind, score and a short snippet."""
        try:
            offset = int(cursor) if cursor else 0
        except ValueError:
            offset = -1
        if offset < 0:
            raise_tool(UsageError(f"cursor {cursor!r} is not one this server gave: pass `next_cursor` as given"))

        def call(index: Index) -> dict[str, Any]:
            hits = index.search(query, offset + k + 1, include=include, exclude=exclude)
            page = hits[offset:offset + k]
            results = [
                {"path": h.path, "lines": list(h.lines), "symbol": h.symbol, "kind": h.kind,
                 "score": round(h.score, 4), "snippet": _snippet(index, h.path, h.lines[0], h.lines[1])}
                for h in page
            ]
            more = len(hits) > offset + k
            return {"query": query, "results": results, "next_cursor": str(offset + k) if more else None}

        return workspace.answer(ctx, call)

    @server.tool(annotations=read_only)
    def read_range(
        path: Annotated[str, Field(description="Root-relative path of a file.")],
        start_line: Annotated[int, Field(ge=1)],
        end_line: Annotated[int, Field(ge=1)],
        ctx: Context,
        max_tokens: Annotated[int | None, Field(ge=1)] = None,
    ) -> dict[str, Any]:
        """Exact lines of a file as they are on disk now (1-based, inclusive), to read before editing."""
        def call(index: Index) -> dict[str, Any]:
            from exocortex.pack.redact import redact_text

            result = index.read_range(path, start_line, end_line, max_tokens=max_tokens)
            result["text"], findings = redact_text(result["text"], path)
            if findings:
                result["redacted"] = len(findings)
            return result

        return workspace.answer(ctx, call)

    @server.tool(annotations=read_only)
    def repo_map(
        ctx: Context,
        budget: Annotated[int, Field(ge=1)] = 2000,
        include: Globs = None,
        focus: Annotated[list[str] | None, Field(description="Paths or globs to rank higher.")] = None,
    ) -> dict[str, Any]:
        """A ranked outline of the repository (central files and their definitions) within a token budget."""
        def call(index: Index) -> dict[str, Any]:
            cap = workspace.max_answer_tokens
            if budget > cap:
                raise UsageError(f"budget {budget:,} is over the answer cap of {cap:,} tokens")
            return index.map(budget, include=include, focus=focus).to_dict()

        return workspace.answer(ctx, call)

    @server.tool(annotations=read_only)
    def find_symbol(
        name: Annotated[str, Field(description="A function, class or method name (`Class.method` works).")],
        ctx: Context,
        kind: Annotated[str | None, Field(description="function, class, method, ...")] = None,
        include_body: bool = False,
    ) -> dict[str, Any]:
        """Where a symbol is defined: path, line range, kind and signature (and its source with include_body)."""
        def call(index: Index) -> dict[str, Any]:
            return {"symbols": index.find_symbol(name, kind=kind, include_body=include_body)}

        return workspace.answer(ctx, call)

    @server.tool(annotations=read_only)
    def find_references(
        symbol: str,
        ctx: Context,
        path: Annotated[str | None, Field(description="Only in this file (or glob).")] = None,
    ) -> dict[str, Any]:
        """Where a symbol is used: path, line and the line's text."""
        def call(index: Index) -> dict[str, Any]:
            return {"references": index.find_references(symbol, path=path)}

        return workspace.answer(ctx, call)

    @server.tool(annotations=read_only)
    def index_status(ctx: Context) -> dict[str, Any]:
        """What the index holds (files, chunks, tokens, languages), how current it is, and the server's caches."""
        def call(index: Index) -> dict[str, Any]:
            index._answer_from_current_index()
            data = index.status().to_dict()
            watcher = index._watcher
            data["watching"] = bool(watcher is not None and watcher.alive)
            data["memory"] = index.memory_stats()  # this server's caches: what a long-lived process holds
            return data

        return workspace.answer(ctx, call)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                                             open_world_hint=False))
    def reindex(ctx: Context, rebuild: bool = False) -> dict[str, Any]:
        """Bring the index up to date now (answers do this themselves); rebuild=true starts it over."""
        def call(index: Index) -> dict[str, Any]:
            report = index.update(rebuild=rebuild)
            data = report.to_dict()
            data["changed_paths"] = report.changed_paths[:100]
            return data

        return workspace.answer(ctx, call)

    if variants or (variants is None and _holds_variants(where, store)):
        _add_variant_tools(server, workspace)
    return server


def raise_tool(exc: ExocortexError) -> None:
    from mcp.server.mcpserver.exceptions import ToolError

    raise ToolError(_error_text(exc))


def _holds_variants(root: Path | None, store: str | None) -> bool:
    from exocortex.genomics.variants import Variants

    try:
        where = store or (str(root / ".exocortex") if root is not None else None)
        return bool(Variants.open(where).holds_variants())
    except ExocortexError:
        return False


def _add_variant_tools(server: MCPServer, workspace: Workspace) -> None:
    """``vcf_query`` and ``vcf_stats``: offered only where there are variants (each tool costs context)."""

    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    def variants_of(index: Index) -> Any:
        from exocortex.genomics.variants import Variants

        return Variants.open(index.store)

    @server.tool(annotations=read_only)
    def vcf_query(
        ctx: Context,
        region: Annotated[str | None, Field(description="chr:start-end, e.g. chr20:1000000-2000000")] = None,
        gene: str | None = None,
        sample: str | None = None,
        zygosity: Literal["het", "hom_alt", "hom_ref"] | None = None,
        min_af: float | None = None,
        max_af: float | None = None,
        consequence: str | None = None,
        impact: Literal["HIGH", "MODERATE", "LOW", "MODIFIER"] | None = None,
        clnsig: str | None = None,
        lof: Annotated[bool, Field(description="loss of function (LOFTEE HC, snpEff LOF, pLoF term)")] = False,
        max_pop_af: Annotated[float | None, Field(description="reference-population AF (gnomAD...) at most")] = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 20,
    ) -> dict[str, Any]:
        """Variants in the store matching the filters (exact total, first `limit` rows). gene, consequence,
        impact and lof hold on one and the same annotation entry."""
        def call(index: Index) -> dict[str, Any]:
            result = variants_of(index).query(region=region, gene=gene, sample=sample, zygosity=zygosity,
                                              min_af=min_af, max_af=max_af, consequence=consequence, impact=impact,
                                              clnsig=clnsig, lof=lof, max_pop_af=max_pop_af, limit=limit)
            return result if isinstance(result, dict) else result.to_dict()

        return workspace.answer(ctx, call)

    @server.tool(annotations=read_only)
    def vcf_stats(ctx: Context) -> dict[str, Any]:
        """Counts of the variant store: by type and chromosome, Ti/Tv, per-sample zygosity, missingness."""
        def call(index: Index) -> dict[str, Any]:
            stats = variants_of(index).stats()
            return stats if isinstance(stats, dict) else stats.to_dict()

        return workspace.answer(ctx, call)
