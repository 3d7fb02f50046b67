"""One exception hierarchy. Each error knows its exit code and its one-line message.

Exit codes (also in ``docs/cli.md``):

====  =====================================================================
code  meaning
====  =====================================================================
0     success
1     unexpected internal error (a bug: run with ``--debug`` and report it)
2     bad command-line usage
3     bad input path: missing, not a directory, unreadable
4     the store is corrupted or half-written: re-index with ``--rebuild``
5     the store was written by another schema version: re-index
6     another writer holds the store
7     bad configuration
8     no index at this location: run ``exocortex index`` first
9     nothing to index: the path holds no indexable files
10    a worker process died (the previous index is intact)
11    the token budget is too small for even an outline of the top match
12    nothing matches the query (or the query is empty)
13    not a readable VCF/BCF: empty, no header, not VCF, truncated compression
14    this file's content is already in the variant store (pass --replace)
130   interrupted (Ctrl-C, SIGINT): what was committed before is intact
143   terminated (SIGTERM): what was committed before is intact
====  =====================================================================
"""

from __future__ import annotations


class ExocortexError(Exception):
    """Base of every error exocortex raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ExocortexError):
    """A bad argument: a count below 1, a query too long (the command line's own errors use this code too)."""

    exit_code = 2


class InputPathError(ExocortexError):
    exit_code = 3


class StoreCorruptError(ExocortexError):
    exit_code = 4


class SchemaVersionError(ExocortexError):
    exit_code = 5


class StoreLockedError(ExocortexError):
    exit_code = 6


class ConfigError(ExocortexError):
    exit_code = 7


class IndexNotFoundError(ExocortexError):
    exit_code = 8


class NothingToIndexError(ExocortexError):
    exit_code = 9


class WorkerCrashedError(ExocortexError):
    exit_code = 10


class BudgetTooSmallError(ExocortexError):
    exit_code = 11


class NoMatchesError(ExocortexError):
    exit_code = 12


class VcfFormatError(ExocortexError):
    """The input is not a VCF/BCF this tool can read at all (a bad *record* is rejected, not raised)."""

    exit_code = 13


class DuplicateSourceError(ExocortexError):
    """A file whose bytes (sha256) were already ingested into this variant store."""

    exit_code = 14


INTERRUPTED_EXIT_CODE = 130
"""Exit code of a run ended by SIGINT (Ctrl-C): 128 + the signal's number, as shells report it."""
TERMINATED_EXIT_CODE = 143
"""Exit code of a run ended by SIGTERM."""

EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected internal error (run with --debug and report it)",
    UsageError.exit_code: "bad command-line usage (or a bad argument to an API call)",
    InputPathError.exit_code: "bad input path: missing, not a directory, unreadable",
    StoreCorruptError.exit_code: "the store is corrupted or half-written: re-index with --rebuild",
    SchemaVersionError.exit_code: "the store was written by another schema version: re-index",
    StoreLockedError.exit_code: "another writer holds the store",
    ConfigError.exit_code: "bad configuration",
    IndexNotFoundError.exit_code: "no index at this location: run `exocortex index` first",
    NothingToIndexError.exit_code: "nothing to index: the path holds no indexable files",
    WorkerCrashedError.exit_code: "a worker process died (the previous index is intact)",
    BudgetTooSmallError.exit_code: "the token budget is too small for even an outline of the top match",
    NoMatchesError.exit_code: "nothing matches the query (or the query is empty)",
    VcfFormatError.exit_code: "not a readable VCF/BCF: empty, no header, not VCF, truncated compression",
    DuplicateSourceError.exit_code: "this file's content is already in the variant store (pass --replace)",
    INTERRUPTED_EXIT_CODE: "interrupted (Ctrl-C, SIGINT): what was committed before is intact",
    TERMINATED_EXIT_CODE: "terminated (SIGTERM): what was committed before is intact",
}
