"""``mlbedge data download`` against a real HTTP server on 127.0.0.1.

The server serves files the test builds from the shared data: SBRO season workbooks written with
openpyxl from the real CSVs the way the archive publishes them (no season column, "Run Line" /
"Open OU" / "Close OU" with blank price headers, numbers as numbers, "NL", "x" and "8½" as text),
and zips of the real Retrosheet game logs. Nothing is fetched from the internet.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import psycopg
import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.settings import Settings, get_settings
from mlbedge.sources.historical.common import RawFile
from mlbedge.sources.historical.download import MANIFEST, OfflineError, download_archives, parse_seasons
from mlbedge.sources.historical.files import historical_files
from mlbedge.sources.historical.sbro import load_sbro_files, parse_sbro
from tests.conftest import DATA_DIR
from tests.sources.server import FixtureServer, Reply

_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d*\.\d+$")
# The CSV header's names as the published workbook writes them (the price columns' headers blank).
_PUBLISHED = {"RunLine": "Run Line", "RunLine_odds": None, "OpenOU": "Open OU", "OpenOU_odds": None,
              "CloseOU": "Close OU", "CloseOU_odds": None}  # fmt: skip


def sbro_workbook(season: int) -> bytes:
    """The real SBRO CSV of ``season`` as a published-style .xlsx workbook."""
    with (DATA_DIR / "sbr" / f"mlb_odds_sbr_{season}.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    keep = [i for i, name in enumerate(header) if name != "season"]
    book = Workbook(write_only=True)
    sheet = book.create_sheet("MLB")
    sheet.append([_PUBLISHED.get(header[i], header[i]) for i in keep])

    def cell(text: str) -> object:
        if text == "":
            return None
        if _INT.match(text):
            return int(text)
        if _FLOAT.match(text):
            return float(text)
        return text

    for row in body:
        sheet.append([cell(row[i]) for i in keep])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def gamelog_zip(season: int) -> bytes:
    """The real Retrosheet game log of ``season`` zipped as the archive ships it (lower-case name)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(DATA_DIR / "retrosheet" / f"GL{season}.TXT", f"gl{season}.txt")
    return out.getvalue()


@pytest.fixture(scope="module")
def archive_files() -> dict[str, bytes]:
    return {
        "sbro/2015": sbro_workbook(2015),
        "sbro/2016": sbro_workbook(2016),
        "retrosheet/2015": gamelog_zip(2015),
    }


@pytest.fixture
def archive_server(archive_files: dict[str, bytes]) -> Iterator[FixtureServer]:
    server = FixtureServer()
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def sbro(path: str, query: dict[str, str]) -> Reply:
        season = re.search(r"(\d{4})\.xlsx$", path).group(1)  # type: ignore[union-attr]
        body = archive_files.get(f"sbro/{season}")
        return (200, {"Content-Type": xlsx}, body) if body else (404, {}, b"not found")

    def retro(path: str, query: dict[str, str]) -> Reply:
        season = re.search(r"(\d{4})\.zip$", path).group(1)  # type: ignore[union-attr]
        body = archive_files.get(f"retrosheet/{season}")
        return (200, {"Content-Type": "application/zip"}, body) if body else (404, {}, b"not found")

    server.route(r"/sbro/mlb%20odds%20\d{4}\.xlsx", sbro)
    server.route(r"/gamelogs/gl\d{4}\.zip", retro)
    server.route(r"/broken/.*", lambda p, q: (200, {"Content-Type": "text/html"}, b"<html>Moved</html>"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dl_settings(
    tmp_path: Path, archive_server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("MLBEDGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLBEDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLBEDGE_SBRO_ARCHIVE_BASE_URL", archive_server.url + "/sbro")
    monkeypatch.setenv("MLBEDGE_RETROSHEET_BASE_URL", archive_server.url + "/gamelogs/")
    monkeypatch.setenv("MLBEDGE_HTTP_MAX_RETRIES", "1")
    monkeypatch.setenv("MLBEDGE_HTTP_BACKOFF_SECONDS", "0")
    monkeypatch.setenv("MLBEDGE_DOWNLOAD_MIN_INTERVAL_SECONDS", "0")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_parse_seasons() -> None:
    assert parse_seasons("2015-2017") == [2015, 2016, 2017]
    assert parse_seasons("2019, 2015-2016,2016") == [2015, 2016, 2019]
    for bad in ("", "20x5", "2019-2015"):
        with pytest.raises(ValueError, match="seasons"):
            parse_seasons(bad)


def test_download_records_checksums_and_skips_what_it_has(
    dl_settings: Settings, archive_server: FixtureServer, archive_files: dict[str, bytes]
) -> None:
    """Two seasons: three archives on the server, one missing (404); then a re-run fetches nothing."""
    data = dl_settings.data_dir
    report = download_archives([2015, 2016], settings=dl_settings)
    status = {(r.archive.source, r.archive.season): r.status for r in report.results}
    assert status == {
        ("sbro", 2015): "downloaded",
        ("sbro", 2016): "downloaded",
        ("retrosheet", 2015): "downloaded",
        ("retrosheet", 2016): "failed",
    }
    assert "HTTP 404" in (report.failed[0].error or "")

    manifest = json.loads((data / MANIFEST).read_text())
    files = manifest["files"]
    assert set(files) == {"sbr/mlb_odds_sbr_2015.xlsx", "sbr/mlb_odds_sbr_2016.xlsx", "retrosheet/gl2015.zip"}
    for name, key in (
        ("sbr/mlb_odds_sbr_2015.xlsx", "sbro/2015"),
        ("retrosheet/gl2015.zip", "retrosheet/2015"),
    ):
        on_disk = (data / name).read_bytes()
        assert on_disk == archive_files[key]
        assert files[name]["sha256"] == hashlib.sha256(on_disk).hexdigest()
        assert files[name]["size_bytes"] == len(on_disk)
    assert files["sbr/mlb_odds_sbr_2015.xlsx"]["url"] == archive_server.url + "/sbro/mlb%20odds%202015.xlsx"
    (gl,) = files["retrosheet/gl2015.zip"]["extracted"]
    text = (data / "retrosheet" / "GL2015.TXT").read_bytes()
    assert text == (DATA_DIR / "retrosheet" / "GL2015.TXT").read_bytes()
    assert (gl["member"], gl["path"], gl["sha256"]) == (
        "gl2015.txt",
        "retrosheet/GL2015.TXT",
        hashlib.sha256(text).hexdigest(),
    )
    found = historical_files(data)
    assert [p.name for p in found.sbro] == ["mlb_odds_sbr_2015.xlsx", "mlb_odds_sbr_2016.xlsx"]
    assert [p.name for p in found.retrosheet] == ["GL2015.TXT"]

    hits = len(archive_server.hits)
    again = download_archives([2015, 2016], settings=dl_settings, sources=["sbro"])
    assert [r.status for r in again.results] == ["kept", "kept"] and len(archive_server.hits) == hits
    # A file whose bytes changed on disk is fetched again; --force fetches regardless.
    (data / "sbr" / "mlb_odds_sbr_2016.xlsx").write_bytes(b"truncated")
    again = download_archives([2016], settings=dl_settings, sources=["sbro"])
    assert [r.status for r in again.results] == ["downloaded"]
    assert (data / "sbr" / "mlb_odds_sbr_2016.xlsx").read_bytes() == archive_files["sbro/2016"]
    forced = download_archives([2015], settings=dl_settings, sources=["retrosheet"], force=True)
    assert [r.status for r in forced.results] == ["downloaded"] and len(archive_server.hits) == hits + 2


def test_a_page_that_is_not_a_workbook_is_refused(
    dl_settings: Settings, archive_server: FixtureServer
) -> None:
    settings = dl_settings.model_copy(update={"sbro_archive_base_url": archive_server.url + "/broken"})
    report = download_archives([2015], settings=settings, sources=["sbro"])
    assert [r.status for r in report.results] == ["failed"]
    assert "not an .xlsx workbook (starts with '<html>Moved</html>')" in (report.failed[0].error or "")
    assert not (settings.data_dir / "sbr" / "mlb_odds_sbr_2015.xlsx").exists()


def test_xlsx_loads_the_same_games_as_the_csv(
    conn: psycopg.Connection, dl_settings: Settings, archive_files: dict[str, bytes]
) -> None:
    """The workbook parses to exactly the CSV's games and quarantine; its own bytes are stored raw."""
    path = dl_settings.data_dir / "mlb_odds_sbr_2015.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(archive_files["sbro/2015"])
    from_xlsx, q_xlsx = parse_sbro(RawFile.read(path))
    from_csv, q_csv = parse_sbro(RawFile.read(DATA_DIR / "sbr" / "mlb_odds_sbr_2015.csv"))
    assert from_xlsx.height == from_csv.height == 2465
    assert from_xlsx.drop("file_sha256").equals(from_csv.drop("file_sha256"))
    assert q_xlsx.select("row_number", "reason").equals(q_csv.select("row_number", "reason"))

    (summary,) = load_sbro_files(conn, [path])
    assert summary.records == 2465 and summary.written == 2465
    sha = hashlib.sha256(archive_files["sbro/2015"]).hexdigest()
    stored = conn.execute("SELECT content FROM raw.files WHERE sha256 = %s", (sha,)).fetchone()
    assert stored is not None and bytes(stored[0]) == archive_files["sbro/2015"]
    staged = pl.DataFrame(
        conn.execute("SELECT count(*), count(DISTINCT file_sha256) FROM staging.sbro_games").fetchall(),
        orient="row",
    )
    assert staged.row(0) == (2465, 1)


def test_workbook_quirks_match_the_csv(tmp_path: Path) -> None:
    """2010: totals written as text ("8½"), no run line at all, rows with adjacent dates."""
    path = tmp_path / "mlb_odds_sbr_2010.xlsx"
    path.write_bytes(sbro_workbook(2010))
    from_xlsx, _ = parse_sbro(RawFile.read(path))
    from_csv, _ = parse_sbro(RawFile.read(DATA_DIR / "sbr" / "mlb_odds_sbr_2010.csv"))
    assert from_xlsx.drop("file_sha256").equals(from_csv.drop("file_sha256"))
    assert from_xlsx["total_close"].is_in([8.5]).any()


def free_port() -> int:
    """A loopback port nothing listens on (so a connection to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_offline_fails_with_a_clear_message(
    dl_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connection refused: the run stops at once and says what to do."""
    dead = f"http://127.0.0.1:{free_port()}"
    settings = dl_settings.model_copy(update={"sbro_archive_base_url": dead, "retrosheet_base_url": dead})
    with pytest.raises(OfflineError) as caught:
        download_archives([2015, 2016], settings=settings)
    message = str(caught.value)
    assert f"cannot reach 127.0.0.1:{dead.rsplit(':', 1)[1]}" in message
    assert "Are you offline?" in message and "connection failed" in message
    assert not (settings.data_dir / MANIFEST).exists()

    monkeypatch.setenv("MLBEDGE_SBRO_ARCHIVE_BASE_URL", dead)
    monkeypatch.setenv("MLBEDGE_RETROSHEET_BASE_URL", dead)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["data", "download", "--seasons", "2015"])
    assert result.exit_code == 1
    assert "Are you offline?" in result.output


def test_download_command(dl_settings: Settings) -> None:
    """The command fetches, prints the checksums and the Retrosheet notice, and writes the manifest."""
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["data", "download", "--seasons", "2015"])
    assert result.exit_code == 0, result.output
    assert "sbro 2015: downloaded" in result.output and "retrosheet 2015: downloaded" in result.output
    assert "copyrighted by Retrosheet" in result.output
    files = json.loads((dl_settings.data_dir / MANIFEST).read_text())["files"]
    assert sorted(files) == ["retrosheet/gl2015.zip", "sbr/mlb_odds_sbr_2015.xlsx"]
    assert files["sbr/mlb_odds_sbr_2015.xlsx"]["sha256"][:16] in result.output
