"""The variant store's commit protocol and its Lance tables (pylance), including stores written by lancedb."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from exocortex.errors import StoreCorruptError
from exocortex.genomics.schema import SAMPLES, TABLES
from exocortex.genomics.store import (
    DB_DIR,
    LanceTable,
    Manifest,
    VariantStore,
    VariantWriter,
    genomics_dir,
    read_manifest,
    table_names,
    table_path,
    write_manifest,
)


def samples(first: int, n: int, source: int = 0) -> pa.Table:
    ids = list(range(first, first + n))
    return pa.table(
        {"sample": ids, "name": [f"S{i}" for i in ids], "source": [source] * n, "column": list(range(n))}
    ).cast(SAMPLES)


def names(store: VariantStore) -> list[str]:
    return sorted(store.read("samples", ["name"])["name"].to_pylist())


def test_an_uncommitted_append_is_invisible_and_rolled_back(tmp_path: Path) -> None:
    with VariantWriter(tmp_path) as w:
        w.append("samples", samples(1, 3))
        w.commit()
    committed = read_manifest(tmp_path).tables["samples"]
    with VariantWriter(tmp_path) as w:  # a writer that dies before its commit
        w.append("samples", samples(4, 2))
        w.append("sources", TABLES["sources"].empty_table())  # creates the table, uncommitted
        assert len(w.read("samples")) == 5  # the writer sees its own rows
    lance_dir = genomics_dir(tmp_path) / DB_DIR
    assert LanceTable(table_path(lance_dir, "samples")).latest_version > committed
    assert "sources" in table_names(lance_dir)
    assert names(VariantStore(tmp_path)) == ["S1", "S2", "S3"]  # readers see the committed version only
    with VariantWriter(tmp_path) as w:  # the next writer rolls back
        assert len(w.read("samples")) == 3
        assert "sources" not in table_names(lance_dir)  # a table the manifest does not name is dropped
        w.append("samples", samples(6, 1))
        w.commit()
    assert names(VariantStore(tmp_path)) == ["S1", "S2", "S3", "S6"]


def test_a_reader_keeps_its_pinned_version_while_a_writer_appends(tmp_path: Path) -> None:
    with VariantWriter(tmp_path) as w:
        w.append("samples", samples(1, 2))
        w.commit()
    reader = VariantStore(tmp_path)
    assert reader.table("samples").count_rows() == 2
    with VariantWriter(tmp_path) as w:
        w.append("samples", samples(3, 2))
        assert reader.table("samples").count_rows() == 2
        w.commit()
    assert reader.table("samples").count_rows() == 2  # still the version it opened
    assert names(reader) == ["S1", "S2"]
    assert VariantStore(tmp_path).table("samples").count_rows() == 4


def test_delete_take_count_and_indexes(tmp_path: Path) -> None:
    with VariantWriter(tmp_path) as w:
        w.append("samples", samples(1, 4, source=0))
        w.append("samples", samples(5, 4, source=1))
        w.delete("samples", "sample = 2")
        w.create_scalar_index("samples", "name", "BTREE")
        w.create_scalar_index("samples", "source", "bitmap")
        assert w.indexed_columns("samples") == {"name", "source"}
        w.commit()
    table = VariantStore(tmp_path).table("samples")
    assert {(i.index_type, tuple(i.columns)) for i in table.list_indices()} == {
        ("BTree", ("name",)),
        ("Bitmap", ("source",)),
    }
    assert table.count_rows() == 7 and table.count_rows("source = 1") == 4 and table.count_rows("name = 'S3'") == 1
    hits = table.scan(["sample"], "sample >= 3", row_id=True, order_by=["sample"], limit=3)
    assert hits["sample"].to_pylist() == [3, 4, 5]
    taken = table.take(hits["_rowid"].to_pylist(), ["sample", "name"])  # row ids, not offsets, after a delete
    assert sorted(taken["name"].to_pylist()) == ["S3", "S4", "S5"]
    streamed = [b.num_rows for b in table.batches(["sample"], "source = 0", batch_rows=2)]
    assert sum(streamed) == 3 and max(streamed) <= 2


def test_a_bad_predicate_is_a_value_error(tmp_path: Path) -> None:
    with VariantWriter(tmp_path) as w:
        w.append("samples", samples(1, 2))
        w.commit()
    table = VariantStore(tmp_path).table("samples")
    for call in (
        lambda: table.scan(None, "nope = 1"),
        lambda: table.count_rows("nope = 1"),  # pylance raises OSError here
        lambda: list(table.batches(None, "sample = ")),
    ):
        with pytest.raises(ValueError, match="Invalid user input"):
            call()
    with pytest.raises(ValueError, match="unknown scalar index type"):
        table.create_scalar_index("name", "HASH")


def test_a_store_written_by_lancedb_opens_and_the_other_way_round(tmp_path: Path) -> None:
    import lancedb

    db = lancedb.connect(str(genomics_dir(tmp_path) / DB_DIR))
    old = db.create_table("samples", samples(1, 3))
    old.add(samples(4, 1))
    old.create_index("name", config=lancedb.index.BTree())
    write_manifest(tmp_path, Manifest(tables={"samples": old.version}))
    old.add(samples(9, 1))  # written by lancedb, never committed
    assert names(VariantStore(tmp_path)) == ["S1", "S2", "S3", "S4"]
    assert VariantStore(tmp_path).table("samples").count_rows("name = 'S4'") == 1
    with VariantWriter(tmp_path) as w:
        assert len(w.read("samples")) == 4  # rolled back
        w.append("samples", samples(5, 1))
        w.commit()
    again = lancedb.connect(str(genomics_dir(tmp_path) / DB_DIR)).open_table("samples")
    again.checkout(read_manifest(tmp_path).tables["samples"])
    assert sorted(again.to_arrow()["name"].to_pylist()) == ["S1", "S2", "S3", "S4", "S5"]


def test_a_manifest_naming_a_missing_version_is_corrupt(tmp_path: Path) -> None:
    with VariantWriter(tmp_path) as w:
        w.append("samples", samples(1, 1))
        w.commit()
    write_manifest(tmp_path, Manifest(tables={"samples": 99}))
    with pytest.raises(StoreCorruptError, match="no committed version 99"), VariantWriter(tmp_path):
        pass
