"""The ``exocortex`` command line: one module per command group, each command one call into the API.

``_startup`` comes first (a Ctrl-C while the program imports is one line, not a traceback); then
each module below adds its commands to ``app``. Start-up cost: every command pays for what these
modules import, so the API and the libraries behind it are imported inside the commands that use
them (``tests/test_cli_startup.py`` keeps it so).
"""

from exocortex.cli import (  # noqa: F401  (add commands)
    _startup,  # noqa: F401  (first: the start-up signal handlers)
    bench,
    index,
    search,
    vcf_ingest,
    vcf_query,
    vcf_validate,
)
from exocortex.cli.app import app
from exocortex.cli.runner import main

__all__ = ["app", "main"]
