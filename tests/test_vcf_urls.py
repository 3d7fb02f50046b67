"""``vcf ingest`` and ``vcf validate`` of ``http://`` URLs, served from tests/fixtures/vcf on loopback.

The server is the standard library's ``http.server`` on 127.0.0.1 in a child process: no network. A URL
must give the same rows and the same validation report as the local file, record the URL as the
source's path with the content's sha256 (so the same bytes from disk are a duplicate), and a
missing URL must be one clear error with nothing written.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from exocortex.cli import main
from exocortex.errors import DuplicateSourceError, InputPathError
from exocortex.genomics.store import VariantStore
from exocortex.genomics.variants import Variants

DATA = Path(__file__).parent / "fixtures" / "vcf"
# columns that name where a row came from, not what it holds
PLACE = ("vid", "source", "batch", "line")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """``python -m http.server`` on a free loopback port, in its own process: htslib's libcurl reads hold
    the GIL (cyvcf2 does not release it), so a server thread in this process could never answer."""
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(DATA)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        port = re.search(r" port (\d+)", line)
        assert port is not None, line
        yield f"http://127.0.0.1:{port.group(1)}"
    finally:
        server.kill()
        server.wait()


def _content(store: Path, name: str) -> pa.Table:
    table = VariantStore(store).read(name)
    return table.drop_columns([c for c in PLACE if c in table.column_names])


@pytest.mark.parametrize(
    "name", ["chr22.vcf.gz", "CEUTrio.20.21.gatk3.4.g.bcf", "test.snpeff.vcf", "NA12878.prod.chr20snippet.g.40k.vcf.gz"]
)
def test_a_url_is_ingested_as_its_local_file(base_url: str, tmp_path: Path, name: str) -> None:
    url = f"{base_url}/{name}"
    by_url = Variants.open(tmp_path / "url").ingest(url, build_indexes=False)
    by_path = Variants.open(tmp_path / "local").ingest(DATA / name, build_indexes=False)
    assert by_url.files[0].path == url
    assert (by_url.records, by_url.alleles, by_url.calls) == (by_path.records, by_path.alleles, by_path.calls)
    assert by_url.files[0].columnar == by_path.files[0].columnar  # text: the columnar path reads the URL too
    for table in ("variants", "calls", "samples"):
        assert _content(tmp_path / "url", table).equals(_content(tmp_path / "local", table)), table
    sources = VariantStore(tmp_path / "url").read("sources").to_pylist()
    assert [s["path"] for s in sources] == [url]
    assert sources[0]["sha256"] == hashlib.sha256((DATA / name).read_bytes()).hexdigest()
    assert sources[0]["header"] == VariantStore(tmp_path / "local").read("sources")["header"][0].as_py()


def test_the_same_content_from_a_url_and_from_disk_is_a_duplicate(base_url: str, tmp_path: Path) -> None:
    variants = Variants.open(tmp_path / "s")
    variants.ingest(f"{base_url}/chr22.vcf.gz", build_indexes=False)
    with pytest.raises(DuplicateSourceError, match="already in the variant store"):
        variants.ingest(DATA / "chr22.vcf.gz", build_indexes=False)


@pytest.mark.parametrize("name", ["1kg-629samples.vcf.gz", "split-vep.vcf", "CEUTrio.20.21.gatk3.4.g.bcf"])
def test_a_url_validates_as_its_local_file(base_url: str, name: str) -> None:
    url = f"{base_url}/{name}"
    remote = Variants.validate(url).to_dict()
    local = Variants.validate(DATA / name).to_dict()
    assert remote.pop("path") == url
    local.pop("path")
    remote.pop("seconds"), local.pop("seconds")
    assert remote == local
    assert remote["records"] > 0


def test_a_missing_url_is_one_clear_error_and_nothing_is_written(base_url: str, tmp_path: Path) -> None:
    url = f"{base_url}/no-such-file.vcf.gz"
    store = tmp_path / "s"
    with pytest.raises(InputPathError, match=r"^cannot read http://127\.0\.0\.1:\d+/no-such-file\.vcf\.gz: HTTP 404"):
        Variants.open(store).ingest(url)
    assert not Variants.open(store).holds_variants()
    with pytest.raises(InputPathError, match="HTTP 404"):
        Variants.validate(url)


def test_the_cli_takes_urls(base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "s")
    assert main(["vcf", "ingest", f"{base_url}/chr22.vcf.gz", "--store", store, "--json", "--no-index"]) == 0
    assert '"records": 100' in capsys.readouterr().out
    assert main(["vcf", "validate", f"{base_url}/chr22.vcf.gz"]) == 0
    capsys.readouterr()
    assert main(["vcf", "ingest", f"{base_url}/gone.vcf", "--store", store]) == InputPathError.exit_code
    err = capsys.readouterr().err
    assert "HTTP 404" in err and len(err.strip().splitlines()) == 1
