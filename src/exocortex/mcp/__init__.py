"""The MCP server (``exocortex mcp``): each tool one call into the Python API; see ``server.py``."""

from exocortex.mcp.server import Workspace, build_server

__all__ = ["Workspace", "build_server"]
