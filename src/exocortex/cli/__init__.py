"""The ``exocortex`` command line: one module per command group, each command one call into the API.

``_startup`` comes first (a Ctrl-C while the program imports is one line, not a traceback); then
each module below adds its commands to ``app``. Start-up cost: every command pays for what these
modules import, so the API and the libraries behind it are imported inside the commands that use
them (``tests/test_cli_startup.py`` keeps it so).
"""

from exocortex.cli import _startup  # noqa: F401, I001  (first, before typer: the start-up signal handlers)
from exocortex.cli import bench, index, map, mcp, search, vcf_ingest, vcf_query, vcf_samples, vcf_validate  # noqa: F401
from exocortex.cli import vcf_export  # noqa: F401  (add commands)
from exocortex.cli.app import app
from exocortex.cli.runner import main

__all__ = ["app", "main"]
