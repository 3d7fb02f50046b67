"""Arrow schemas of the store's Lance tables, and the schema version.

Bump ``SCHEMA_VERSION`` whenever a table's columns or their meaning change:
a store written with another version is refused with a message to re-index.
"""

from __future__ import annotations

import pyarrow as pa
import xxhash

SCHEMA_VERSION = 4
"""4: the texts a pack serves carry their xxh3 hash (``text_hash``, ``skeleton_hash``, ``signature_hash``)."""


def text_digest(text: str) -> int:
    """The hash stored beside every text a pack serves, checked when it is served (xxh3, 64 bits)."""
    return xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))


TOKEN_COLUMNS = {
    "o200k_base": "tokens_o200k",
    "cl100k_base": "tokens_cl100k",
}

_token_fields = [pa.field(col, pa.int64(), nullable=True) for col in TOKEN_COLUMNS.values()]

# One row per file the walk found and the reader looked at. The table doubles as
# the manifest of the incremental index: (size, mtime_ns) decide whether to hash,
# the content hash decides whether to re-process. Files skipped after reading
# (binary by content, vanished) are kept with their skip reason so an unchanged
# binary is not read again on the next run.
FILES = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("mtime_ns", pa.int64(), nullable=False),
        pa.field("hash", pa.string(), nullable=False),
        pa.field("skip_reason", pa.string(), nullable=True),
        pa.field("language", pa.string(), nullable=True),
        pa.field("structural", pa.bool_(), nullable=False),
        pa.field("encoding", pa.string(), nullable=True),
        pa.field("lines", pa.int64(), nullable=False),
        pa.field("chunks", pa.int64(), nullable=False),
        *_token_fields,
        pa.field("skeleton", pa.string(), nullable=True),
        pa.field("skeleton_hash", pa.uint64(), nullable=True),
        pa.field("skeleton_lines", pa.list_(pa.int32()), nullable=True),
        *[pa.field("skeleton_" + col, pa.int64(), nullable=True) for col in TOKEN_COLUMNS.values()],
        pa.field("imports", pa.list_(pa.string()), nullable=True),
        pa.field("references", pa.list_(pa.string()), nullable=True),
        # Code-aware tokens of the path and skeleton, space-joined (search/tokenize.py).
        pa.field("skeleton_terms", pa.large_string(), nullable=True),
    ]
)

# One row per chunk: the units a pack is made of. Chunks of a file do not
# overlap and together hold every non-blank line of it.
CHUNKS = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("ordinal", pa.int32(), nullable=False),
        pa.field("start_line", pa.int32(), nullable=False),
        pa.field("end_line", pa.int32(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("text_hash", pa.uint64(), nullable=False),
        *_token_fields,
        # The distinct code-aware tokens of path, symbol and text (search/tokenize.py),
        # in order of first occurrence, and how often each occurs: what lexical search
        # indexes, counted at index time so building the search index needs no tokenizing.
        pa.field("term_list", pa.list_(pa.string()), nullable=False),
        pa.field("term_counts", pa.list_(pa.int32()), nullable=False),
    ]
)

# One row per definition, with its full extent (a class spans its methods).
SYMBOLS = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("start_line", pa.int32(), nullable=False),
        pa.field("end_line", pa.int32(), nullable=False),
        pa.field("signature", pa.string(), nullable=False),
        pa.field("signature_hash", pa.uint64(), nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {"files": FILES, "chunks": CHUNKS, "symbols": SYMBOLS}
