"""Find the historical files in a data folder laid out like ``shared/data/mlb``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlbedge.sources.historical.lahman import lahman_files


@dataclass(frozen=True)
class HistoricalFiles:
    """The files of each historical source found under one folder."""

    sbro: list[Path]
    pinnacle_games: Path | None
    pinnacle_lines: Path | None
    retrosheet: list[Path]
    lahman: list[Path] = field(default_factory=list)  # People, Teams, Batting, Pitching present
    retrosplits: list[Path] = field(default_factory=list)  # teams-YYYY and pitching-platoon-YYYY


def historical_files(data_dir: Path) -> HistoricalFiles:
    """SBRO season files (.csv or .xlsx), the Pinnacle pair, Retrosheet game logs, the Lahman
    tables and the retrosplits files under ``data_dir``."""
    pin = data_dir / "pinnacle_2016"
    games = pin / "pinnacle_mlb2016_games.csv"
    lines = pin / "pinnacle_mlb2016_lines.csv.gz"
    # One file per season: the CSV where there is one, else the season's .xlsx workbook.
    sbro = {p.stem: p for p in sorted((data_dir / "sbr").glob("mlb_odds_sbr_*.xlsx"))}
    sbro.update({p.stem: p for p in sorted((data_dir / "sbr").glob("mlb_odds_sbr_*.csv"))})
    return HistoricalFiles(
        sbro=sorted(sbro.values()),
        pinnacle_games=games if games.is_file() else None,
        pinnacle_lines=lines if lines.is_file() else None,
        retrosheet=sorted((data_dir / "retrosheet").glob("GL*.TXT")),
        lahman=lahman_files(data_dir / "lahman"),
        retrosplits=sorted((data_dir / "retrosplits").glob("teams-*.csv"))
        + sorted((data_dir / "retrosplits").glob("pitching-platoon-*.csv")),
    )
