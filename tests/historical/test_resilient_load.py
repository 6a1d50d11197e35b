"""Loads that never lose good data to bad data beside it, on the real files with faults put in.

Per file (an empty file among good ones), per row (a NUL byte, one invalid byte, a date outside
the file's season, a file whose every row is garbage), per version (a corrected file replaces
what the faulty one wrote) and across processes (two loads at once wait for each other).
"""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from mlbedge.cli.main import app
from mlbedge.games.link import rebuild_games
from mlbedge.settings import Settings
from mlbedge.sources.historical.common import RawFile, load_failed, load_lock
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files, parse_retrosheet
from mlbedge.sources.historical.sbro import load_sbro_files, parse_sbro
from tests.historical.test_sbro import GAMES, sbro_file

runner = CliRunner()


def _count(conn: psycopg.Connection, sql: str, *params: object) -> int:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def _with_line(path: Path, target: Path, line_index: int, edit) -> bytes:  # type: ignore[no-untyped-def]
    """Copy ``path`` to ``target`` with line ``line_index`` (0-based, header included) edited."""
    lines = path.read_bytes().split(b"\n")
    original = lines[line_index]
    lines[line_index] = edit(original)
    target.write_bytes(b"\n".join(lines))
    return original


def _nul_in_pitcher(line: bytes) -> bytes:
    fields = line.split(b",")
    fields[5] = fields[5][:2] + b"\x00" + fields[5][2:]
    return b",".join(fields)


def test_empty_file_and_nul_row_cost_only_themselves(
    settings: Settings, data_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "sbr"
    folder.mkdir()
    good = list(range(2010, 2018))
    files = []
    for season in good:
        files.append(folder / f"mlb_odds_sbr_{season}.csv")
        files[-1].write_bytes(sbro_file(data_dir, season).read_bytes())
    # Row 100 of 2018 (line 101 with the header) gets a NUL byte inside the pitcher's name.
    nul_file = folder / "mlb_odds_sbr_2018.csv"
    _with_line(sbro_file(data_dir, 2018), nul_file, 100, _nul_in_pitcher)
    assert nul_file.read_bytes().count(b"\x00") == 1
    empty = folder / "mlb_odds_sbr_2019.csv"
    empty.write_bytes(b"")
    files += [nul_file, empty]
    assert len(files) == 10

    result = runner.invoke(app, ["data", "load", "sbro", *map(str, files)])
    assert result.exit_code == 1, result.output
    assert "1 of 10 file(s) not loaded whole: mlb_odds_sbr_2019.csv (failed)" in result.output
    assert "empty file (0 bytes)" in result.output
    assert "Traceback" not in result.output

    with psycopg.connect(settings.database_url) as conn:
        for season in good:
            assert (
                _count(conn, "SELECT count(*) FROM staging.sbro_games WHERE season = %s", season)
                == GAMES[season]
            )
        # Every other row of the NUL file loads: only the game whose row held the NUL is lost.
        assert _count(conn, "SELECT count(*) FROM staging.sbro_games WHERE season = 2018") == GAMES[2018] - 1
        quarantined = conn.execute(
            "SELECT row_number, reason, raw_row FROM staging.quarantine "
            "WHERE file_name = 'mlb_odds_sbr_2018.csv' ORDER BY row_number"
        ).fetchall()
        assert len(quarantined) == 2
        nul_row = next(q for q in quarantined if q[0] == 100)
        assert nul_row[1] == "NUL byte in the row"
        assert "\\x00" in nul_row[2] and "\x00" not in nul_row[2]
        assert {q[1] for q in quarantined if q[0] != 100} <= {"unpaired visitor row", "unpaired home row"}
        assert _count(conn, "SELECT count(*) FROM curated.games WHERE season BETWEEN 2010 AND 2018") == (
            sum(GAMES[s] for s in good) + GAMES[2018] - 1
        )

    listed = runner.invoke(app, ["data", "quarantine", "--source", "sbro", "--format", "csv"])
    assert listed.exit_code == 0, listed.output
    assert "mlb_odds_sbr_2018.csv,100,NUL byte in the row," in listed.output
    assert (
        runner.invoke(app, ["data", "quarantine", "--source", "retrosheet", "--format", "csv"]).output.count(
            "\n"
        )
        == 1
    )  # the header only


def _invalid_byte_in_pitcher(line: bytes) -> bytes:
    fields = line.split(b",")
    fields[5] = fields[5][:2] + b"\xff" + fields[5][2:]
    return b",".join(fields)


def test_one_invalid_byte_costs_no_game(data_dir: Path, tmp_path: Path) -> None:
    """2010 is UTF-8 with 50 ½ signs: one stray byte must not turn them into mojibake."""
    path = tmp_path / "mlb_odds_sbr_2010.csv"
    _with_line(sbro_file(data_dir, 2010), path, 10, _invalid_byte_in_pitcher)
    games, quarantined = parse_sbro(RawFile.read(path))
    clean, _ = parse_sbro(RawFile.read(sbro_file(data_dir, 2010)))
    assert games.height == clean.height == GAMES[2010]
    assert quarantined.is_empty()
    assert games.drop("file_sha256", "away_pitcher", "home_pitcher").equals(
        clean.drop("file_sha256", "away_pitcher", "home_pitcher")
    )
    # The one line that is not UTF-8 is read as Windows-1252 (0xFF is ÿ).
    changed = games.filter(games["away_pitcher"] != clean["away_pitcher"]).vstack(
        games.filter(games["home_pitcher"] != clean["home_pitcher"])
    )
    assert changed.height == 1


def test_every_row_garbage_is_not_loaded(conn: psycopg.Connection, data_dir: Path, tmp_path: Path) -> None:
    header = sbro_file(data_dir, 2019).read_text().split("\n")[0]
    garbage = tmp_path / "mlb_odds_sbr_2019.csv"
    garbage.write_text(header + "\n" + "\n".join(f"2019,x{i},y,z" for i in range(50)) + "\n")
    good = sbro_file(data_dir, 2016)
    summaries = load_sbro_files(conn, [garbage, good])
    assert [s.status for s in summaries] == ["failed", "loaded"]
    assert summaries[0].quarantined == 50 and summaries[0].records == 0
    assert "nothing usable in the file (all 50 rows quarantined)" in (summaries[0].error or "")
    assert load_failed(summaries) == [summaries[0]]
    assert load_failed(summaries[:1]) == summaries[:1]
    # The garbage file's rows are kept in quarantine, the good file's games in staging.
    assert _count(conn, "SELECT count(*) FROM staging.quarantine WHERE file_name = %s", garbage.name) == 50
    assert _count(conn, "SELECT count(*) FROM staging.sbro_games") == GAMES[2016]


def test_date_outside_the_season_is_quarantined(data_dir: Path, tmp_path: Path) -> None:
    # Retrosheet: a flipped byte makes 20190908 into 28190908.
    source = data_dir / "retrosheet" / "GL2019.TXT"
    lines = source.read_bytes().split(b"\n")
    index = next(i for i, line in enumerate(lines) if line.startswith(b'"20190908"'))
    path = tmp_path / "GL2019.TXT"
    _with_line(source, path, index, lambda b: b.replace(b'"20190908"', b'"28190908"', 1))
    games, quarantined = parse_retrosheet(RawFile.read(path))
    clean, _ = parse_retrosheet(RawFile.read(source))
    assert games.height == clean.height - 1
    assert quarantined.select("row_number", "reason").rows() == [
        (index + 1, "date (field 1) '28190908' is not in the file's season 2019")
    ]
    # SBRO: the season column says 2819 in a 2019 file.
    sbro = tmp_path / "mlb_odds_sbr_2019.csv"
    _with_line(sbro_file(data_dir, 2019), sbro, 5, lambda b: b"2819" + b[4:])
    games, quarantined = parse_sbro(RawFile.read(sbro))
    assert games.height == GAMES[2019] - 1
    assert (5, "season '2819' is not the file's season 2019") in quarantined.select(
        "row_number", "reason"
    ).rows()


def test_corrected_file_replaces_the_phantom_game(settings: Settings, data_dir: Path, tmp_path: Path) -> None:
    """A date flipped inside the season loads a phantom game; the corrected file removes it."""
    path = tmp_path / "mlb_odds_sbr_2019.csv"
    lines = sbro_file(data_dir, 2019).read_bytes().split(b"\n")
    # The game of data rows 999-1000 (visitor, home) moves to 12-31, a day with no games at all.
    flipped = list(lines)
    for i in (999, 1000):
        fields = flipped[i].split(b",")
        fields[1] = b"1231"
        flipped[i] = b",".join(fields)
    path.write_bytes(b"\n".join(flipped))
    assert runner.invoke(app, ["data", "load", "sbro", str(path)]).exit_code == 0
    phantom = "SELECT count(*) FROM {} WHERE date = '2019-12-31'"
    with psycopg.connect(settings.database_url) as conn:
        assert _count(conn, phantom.format("staging.sbro_games")) == 1
        assert _count(conn, phantom.format("curated.games")) == 1

    path.write_bytes(b"\n".join(lines))  # the corrected file, same name
    result = runner.invoke(app, ["data", "load", "sbro", str(path)])
    assert result.exit_code == 0, result.output
    with psycopg.connect(settings.database_url) as conn:
        assert _count(conn, phantom.format("staging.sbro_games")) == 0
        assert _count(conn, phantom.format("curated.games")) == 0
        assert _count(conn, "SELECT count(*) FROM staging.sbro_games") == GAMES[2019]
        assert _count(conn, "SELECT count(*) FROM curated.games") == GAMES[2019]
        # Both versions' bytes stay in raw.files: what was received is never thrown away.
        assert _count(conn, "SELECT count(*) FROM raw.files WHERE file_name = %s", path.name) == 2


def test_gzip_cut_short_keeps_the_rows_before_the_cut(
    conn: psycopg.Connection, data_dir: Path, tmp_path: Path
) -> None:
    pin = data_dir / "pinnacle_2016"
    content = (pin / "pinnacle_mlb2016_lines.csv.gz").read_bytes()
    cut = tmp_path / "pinnacle_mlb2016_lines.csv.gz"
    cut.write_bytes(content[: len(content) // 2])
    full_rows = gzip.decompress(content).count(b"\n")
    games, lines = load_pinnacle(conn, pin / "pinnacle_mlb2016_games.csv", cut)
    assert games.status == "loaded" and games.records > 2400
    assert lines.status == "partial"
    assert "gzip stream cut short" in (lines.error or "")
    assert 0.3 * full_rows < lines.rows_read < 0.7 * full_rows
    assert lines.records > 0.3 * full_rows
    assert load_failed([games, lines]) == [lines]

    # An unreadable games file: reported, and its lines are skipped, not parsed against nothing.
    broken = tmp_path / "pinnacle_mlb2016_games.csv"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    games, lines = load_pinnacle(conn, broken, cut)
    assert (games.status, lines.status) == ("failed", "failed")
    assert "broken gzip stream" in (games.error or "") or "no complete row" in (games.error or "")
    assert "its games file could not be loaded" in (lines.error or "")


def test_retrosheet_nul_line_is_quarantined_alone(
    conn: psycopg.Connection, data_dir: Path, tmp_path: Path
) -> None:
    source = data_dir / "retrosheet" / "GL2016.TXT"
    path = tmp_path / "GL2016.TXT"
    _with_line(source, path, 7, lambda b: b.replace(b'"', b'"\x00', 1))
    (summary,) = load_retrosheet_files(conn, [path])
    clean, _ = parse_retrosheet(RawFile.read(source))
    assert summary.status == "loaded"
    assert summary.records == clean.height - 1
    assert conn.execute("SELECT row_number, reason FROM staging.quarantine").fetchall() == [
        (8, "NUL byte in the row")
    ]


def test_concurrent_loads_wait_for_each_other(settings: Settings, data_dir: Path) -> None:
    """Two loads of the same files in opposite orders: the second waits, neither deadlocks."""
    assert settings.database_url
    files = [sbro_file(data_dir, 2016), sbro_file(data_dir, 2017)]
    with psycopg.connect(settings.database_url) as setup:
        from mlbedge.storage.migrations import migrate

        migrate(setup)
    errors: list[BaseException] = []
    finished: list[str] = []

    def load(name: str, order: list[Path]) -> None:
        try:
            with psycopg.connect(settings.database_url) as conn, load_lock(conn):
                summaries = load_sbro_files(conn, order)
                rebuild_games(conn)
                conn.commit()
            assert [s.status for s in summaries] == ["loaded", "loaded"]
            finished.append(name)
        except BaseException as exc:
            errors.append(exc)

    # While one session holds the lock, a load waits (it does not interleave with it).
    with psycopg.connect(settings.database_url) as holder, load_lock(holder):
        blocked = threading.Thread(target=load, args=("blocked", files))
        blocked.start()
        time.sleep(1.0)
        assert finished == [] and blocked.is_alive()
    blocked.join(60)
    assert finished == ["blocked"]

    threads = [
        threading.Thread(target=load, args=("forward", files)),
        threading.Thread(target=load, args=("backward", files[::-1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(finished) == ["backward", "blocked", "forward"]
    with psycopg.connect(settings.database_url) as conn:
        assert _count(conn, "SELECT count(*) FROM staging.sbro_games") == GAMES[2016] + GAMES[2017]
        assert _count(conn, "SELECT count(*) FROM raw.files") == 2


@pytest.mark.parametrize("name", ["mlb_odds_sbr_2019.csv"])
def test_missing_header_file_reported_not_raised(conn: psycopg.Connection, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("just,some,words\n1,2,3\n")
    (summary,) = load_sbro_files(conn, [path])
    assert summary.status == "failed"
    assert f"{path}, row 0: not an SBRO file: header lacks" in (summary.error or "")


def test_corrected_game_log_replaces_the_phantom_game_and_its_lineup(
    conn: psycopg.Connection, data_dir: Path, tmp_path: Path
) -> None:
    source = data_dir / "retrosheet" / "GL2016.TXT"
    lines = source.read_bytes().split(b"\n")
    index = next(i for i, line in enumerate(lines) if line.startswith(b'"20160908"'))
    path = tmp_path / "GL2016.TXT"
    _with_line(source, path, index, lambda b: b.replace(b'"20160908"', b'"20161230"', 1))  # in season, wrong
    (first,) = load_retrosheet_files(conn, [path])
    phantom = "SELECT count(*) FROM {} WHERE date = '2016-12-30'"
    assert first.status == "loaded"
    assert _count(conn, phantom.format("staging.retrosheet_games")) == 1
    assert _count(conn, phantom.format("staging.retrosheet_lineups")) == 18  # nine a side

    path.write_bytes(source.read_bytes())  # the corrected file, same name
    (second,) = load_retrosheet_files(conn, [path])
    assert second.status == "loaded"
    assert _count(conn, phantom.format("staging.retrosheet_games")) == 0
    assert _count(conn, phantom.format("staging.retrosheet_lineups")) == 0
    assert _count(conn, "SELECT count(*) FROM staging.retrosheet_games") == second.records
