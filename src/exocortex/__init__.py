"""exocortex: a local-first context engine for AI agents.

The public API::

    from exocortex import Index, Variants
    index = Index.open("path/to/repo")
    report = index.update()          # IndexReport
    status = index.status()          # IndexStatus
    variants = Variants.open()       # the variant store: ingest, validate, query, stats, similar, graph

Names are imported lazily so that worker processes and ``exocortex --version``
do not pay for the store's imports.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# Lance's Rust logger warns on routine events (creating a table) on stderr; keep it to errors for
# every module that opens Lance (code store, variant store, vector tiers) unless the user asks:
# LANCEDB_LOG for lancedb, LANCE_LOG for pylance (``import lance``, the variant store).
os.environ.setdefault("LANCEDB_LOG", "error")
os.environ.setdefault("LANCE_LOG", "error")

__version__ = "0.1.0"

_EXPORTS = {
    "Index": "exocortex.api",
    "Variants": "exocortex.genomics.variants",
    "IndexStatus": "exocortex.api",
    "IndexReport": "exocortex.indexing.run",
    "DryRunReport": "exocortex.indexing.dryrun",
    "DirectoryEstimate": "exocortex.indexing.dryrun",
    "SkippedFile": "exocortex.sources.files",
    "Config": "exocortex.config",
    "load_config": "exocortex.config",
    "count_tokens": "exocortex.tokens",
    "TokenCounter": "exocortex.tokens",
    "ExocortexError": "exocortex.errors",
    "InputError": "exocortex.errors",
    "StoreError": "exocortex.errors",
    "QueryError": "exocortex.errors",
    "UsageError": "exocortex.errors",
    "InputPathError": "exocortex.errors",
    "PathOutsideRootError": "exocortex.errors",
    "ConfigError": "exocortex.errors",
    "NothingToIndexError": "exocortex.errors",
    "VcfFormatError": "exocortex.errors",
    "DuplicateSourceError": "exocortex.errors",
    "StoreCorruptError": "exocortex.errors",
    "SchemaVersionError": "exocortex.errors",
    "StoreLockedError": "exocortex.errors",
    "IndexNotFoundError": "exocortex.errors",
    "WorkerCrashedError": "exocortex.errors",
    "BudgetTooSmallError": "exocortex.errors",
    "NoMatchesError": "exocortex.errors",
    "EXIT_CODES": "exocortex.errors",
    "SearchHit": "exocortex.search.hits",
    "Pack": "exocortex.pack",
    "PackItem": "exocortex.pack",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:
    from exocortex.api import Index, IndexStatus
    from exocortex.config import Config, load_config
    from exocortex.errors import (
        EXIT_CODES,
        BudgetTooSmallError,
        ConfigError,
        DuplicateSourceError,
        ExocortexError,
        IndexNotFoundError,
        InputError,
        InputPathError,
        NoMatchesError,
        NothingToIndexError,
        PathOutsideRootError,
        QueryError,
        SchemaVersionError,
        StoreCorruptError,
        StoreError,
        StoreLockedError,
        UsageError,
        VcfFormatError,
        WorkerCrashedError,
    )
    from exocortex.genomics.variants import Variants
    from exocortex.indexing.dryrun import DirectoryEstimate, DryRunReport
    from exocortex.indexing.run import IndexReport
    from exocortex.pack import Pack, PackItem
    from exocortex.search.hits import SearchHit
    from exocortex.sources.files import SkippedFile
    from exocortex.tokens import TokenCounter, count_tokens


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'exocortex' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
