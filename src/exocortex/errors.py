"""One exception hierarchy. Each error knows its exit code and what that code means.

``ExocortexError`` has three group bases, so a caller can catch a kind of failure without
listing every error: ``InputError`` (what was asked for or pointed at is wrong), ``StoreError``
(the store cannot be used as it is) and ``QueryError`` (a well-formed question with no answer
that fits). ``EXIT_CODES`` is built from the classes; ``exocortex exit-codes`` prints it, and the
tables in ``README.md`` and ``docs/cli.md`` are that output (``exocortex exit-codes --markdown``),
checked by ``tests/test_public_api.py``.
"""

from __future__ import annotations


class ExocortexError(Exception):
    """Base of every error exocortex raises on purpose."""

    exit_code = 1
    meaning = "unexpected internal error (run with `--debug` and report it)"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(ExocortexError):
    """What the caller asked for or pointed at is wrong: an argument, a path, a setting, a file."""


class StoreError(ExocortexError):
    """The store cannot be used as it is: missing, damaged, another version, busy, or a run failed."""


class QueryError(ExocortexError):
    """A well-formed question that has no answer: nothing matches, or nothing fits the budget."""


class UsageError(InputError):
    """A bad argument: a count below 1, a query too long (the command line's own errors use this code too)."""

    exit_code = 2
    meaning = "bad command-line usage (or a bad argument to an API call: `k=0`, a query over `max_query_bytes`)"


class InputPathError(InputError):
    """A path that is missing, not a directory, a symlink loop or unreadable."""

    exit_code = 3
    meaning = "bad input path: missing, not a directory, a symlink loop, unreadable, outside the root"


class PathOutsideRootError(InputPathError):
    """A path that leads out of the indexed root (``..``, an absolute path elsewhere, a symlink out)."""


class ConfigError(InputError):
    """A setting (a flag, a variable, a config file entry) that is unknown or out of its range."""

    exit_code = 7
    meaning = "bad configuration"


class NothingToIndexError(InputError):
    """The path holds no file that can be indexed."""

    exit_code = 9
    meaning = "nothing to index: the path holds no indexable files"


class VcfFormatError(InputError):
    """The input is not a VCF/BCF this tool can read at all (a bad *record* is rejected, not raised)."""

    exit_code = 13
    meaning = "not a readable VCF/BCF: empty, no header, not VCF, truncated compression"


class DuplicateSourceError(InputError):
    """A file whose bytes (sha256) were already ingested into this variant store."""

    exit_code = 14
    meaning = "this file's content is already in the variant store (pass `--replace`)"


class StoreCorruptError(StoreError):
    """The store is damaged or half-written."""

    exit_code = 4
    meaning = "the store is corrupted or half-written: re-index with `--rebuild`"


class SchemaVersionError(StoreError):
    """The store was written by another schema version."""

    exit_code = 5
    meaning = "the store was written by another schema version: re-index with `--rebuild`"


class StoreLockedError(StoreError):
    """Another writer holds the store."""

    exit_code = 6
    meaning = "another writer holds the store (use `--wait SECONDS`)"


class IndexNotFoundError(StoreError):
    """No index at this location (or above it)."""

    exit_code = 8
    meaning = "no index at this location: run `exocortex index` first"


class WorkerCrashedError(StoreError):
    """A worker process of an index run died; the previous commit is intact."""

    exit_code = 10
    meaning = "a worker process died (the previous index is intact; re-run with `--workers 1 --debug`)"


class BudgetTooSmallError(QueryError):
    """The token budget cannot hold even an outline of the top match."""

    exit_code = 11
    meaning = "the token budget is too small for even an outline of the top match"


class NoMatchesError(QueryError):
    """Nothing matches the query, or the query is empty."""

    exit_code = 12
    meaning = "nothing matches the query (or the query is empty)"


ERRORS: tuple[type[ExocortexError], ...] = (
    ExocortexError, InputError, StoreError, QueryError,
    UsageError, InputPathError, PathOutsideRootError, ConfigError, NothingToIndexError, VcfFormatError,
    DuplicateSourceError, StoreCorruptError, SchemaVersionError, StoreLockedError, IndexNotFoundError,
    WorkerCrashedError, BudgetTooSmallError, NoMatchesError,
)
"""Every error class, bases first (``exocortex/__init__.py`` exports each one)."""

INTERRUPTED_EXIT_CODE = 130
"""Exit code of a run ended by SIGINT (Ctrl-C): 128 + the signal's number, as shells report it."""
TERMINATED_EXIT_CODE = 143
"""Exit code of a run ended by SIGTERM."""


def _exit_codes() -> dict[int, str]:
    codes = {0: "success"}
    for error in sorted(ERRORS, key=lambda e: e.exit_code):
        if "meaning" in vars(error):  # a group base or a subclass that shares its parent's code adds no row
            codes.setdefault(error.exit_code, error.meaning)
    codes[INTERRUPTED_EXIT_CODE] = "interrupted (Ctrl-C, SIGINT): what was committed before is intact"
    codes[TERMINATED_EXIT_CODE] = "terminated (SIGTERM): what was committed before is intact"
    return codes


EXIT_CODES: dict[int, str] = _exit_codes()
"""Every exit code of the ``exocortex`` command and what it means, in order."""


def exit_code_hint(code: int) -> str:
    """What exit code ``code`` means, for an error message or an MCP error result."""
    return EXIT_CODES.get(code, EXIT_CODES[1])


def exit_codes_markdown() -> str:
    """The exit-code table as Markdown: the tables in README.md and docs/cli.md are this text."""
    rows = [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES.items()]
    return "\n".join(["| code | meaning |", "| ---: | --- |", *rows]) + "\n"
