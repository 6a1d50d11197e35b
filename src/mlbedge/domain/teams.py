"""The 30 MLB franchises, keyed by MLB Stats API team id, and every code sources use for them.

Sources name teams their own way (SBRO ``LOS``/``SFO``/``TAM``, Retrosheet ``LAN``/``FLO``,
Pinnacle full names of the day, Action Network ids 187-216, SBD ``CHW``/``WAS``). Every loader
resolves a code here; an unknown code is an :class:`UnknownTeamError` naming source, code and row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class TeamSource(StrEnum):
    """The vocabularies a team code can come from."""

    MLB = "mlb"  # MLB Stats API abbreviations (current and past)
    SBRO = "sbro"
    RETROSHEET = "retrosheet"
    PINNACLE = "pinnacle"  # full names as written in 2016
    ACTION_NETWORK = "action_network"  # abbreviations; ids via ``by_action_network_id``
    SBD = "sbd"  # srfeeds codes and Sportradar abbreviations
    VSIN = "vsin"  # full names and url slugs
    NAME = "name"  # any full team name, current or historical


@dataclass(frozen=True)
class Team:
    """One franchise. ``abbr`` is the current MLB Stats API abbreviation."""

    mlb_id: int
    abbr: str
    name: str
    league: str
    division: str
    action_network_id: int
    url_slug: str
    timezone: str
    lat: float
    lon: float
    aliases: dict[TeamSource, tuple[str, ...]] = field(default_factory=dict, repr=False)


def _t(
    mlb_id: int,
    abbr: str,
    full_name: str,
    league: str,
    division: str,
    an_id: int,
    slug: str,
    tz: str,
    lat: float,
    lon: float,
    **aliases: tuple[str, ...] | str,
) -> Team:
    normalised = {TeamSource(k): (v,) if isinstance(v, str) else tuple(v) for k, v in aliases.items()}
    return Team(mlb_id, abbr, full_name, league, division, an_id, slug, tz, lat, lon, normalised)


# Home-park coordinates drive the travel features; time zones the body-clock shift.
TEAMS: tuple[Team, ...] = (
    _t(
        108,
        "LAA",
        "Los Angeles Angels",
        "AL",
        "W",
        198,
        "los-angeles-angels",
        "America/Los_Angeles",
        33.800,
        -117.883,
        sbro="LAA",
        retrosheet=("ANA", "LAA", "CAL"),
        name=("Los Angeles Angels of Anaheim", "Anaheim Angels"),
    ),
    _t(
        109,
        "AZ",
        "Arizona Diamondbacks",
        "NL",
        "W",
        205,
        "arizona-diamondbacks",
        "America/Phoenix",
        33.445,
        -112.067,
        mlb=("AZ", "ARI"),
        sbro="ARI",
        retrosheet="ARI",
        sbd=("ARI", "AZ"),
        action_network="ARI",  # Action Network writes ARI where MLB writes AZ
    ),
    _t(
        110,
        "BAL",
        "Baltimore Orioles",
        "AL",
        "E",
        187,
        "baltimore-orioles",
        "America/New_York",
        39.284,
        -76.622,
        sbro="BAL",
        retrosheet="BAL",
    ),
    _t(
        111,
        "BOS",
        "Boston Red Sox",
        "AL",
        "E",
        190,
        "boston-red-sox",
        "America/New_York",
        42.346,
        -71.097,
        sbro=("BOS", "BRS"),
        retrosheet="BOS",
    ),
    _t(
        112,
        "CHC",
        "Chicago Cubs",
        "NL",
        "C",
        206,
        "chicago-cubs",
        "America/Chicago",
        41.948,
        -87.656,
        sbro=("CUB", "CHC"),
        retrosheet="CHN",
    ),
    _t(
        113,
        "CIN",
        "Cincinnati Reds",
        "NL",
        "C",
        202,
        "cincinnati-reds",
        "America/New_York",
        39.097,
        -84.507,
        sbro="CIN",
        retrosheet="CIN",
    ),
    _t(
        114,
        "CLE",
        "Cleveland Guardians",
        "AL",
        "C",
        193,
        "cleveland-guardians",
        "America/New_York",
        41.496,
        -81.685,
        sbro="CLE",
        retrosheet="CLE",
        name=("Cleveland Indians",),
        vsin=("cleveland-indians",),
    ),
    _t(
        115,
        "COL",
        "Colorado Rockies",
        "NL",
        "W",
        210,
        "colorado-rockies",
        "America/Denver",
        39.756,
        -104.994,
        sbro="COL",
        retrosheet="COL",
    ),
    _t(
        116,
        "DET",
        "Detroit Tigers",
        "AL",
        "C",
        195,
        "detroit-tigers",
        "America/Detroit",
        42.339,
        -83.049,
        sbro="DET",
        retrosheet="DET",
    ),
    _t(
        117,
        "HOU",
        "Houston Astros",
        "AL",
        "W",
        199,
        "houston-astros",
        "America/Chicago",
        29.757,
        -95.355,
        sbro="HOU",
        retrosheet="HOU",
    ),
    _t(
        118,
        "KC",
        "Kansas City Royals",
        "AL",
        "C",
        192,
        "kansas-city-royals",
        "America/Chicago",
        39.051,
        -94.480,
        sbro=("KAN", "KC", "KCR"),
        retrosheet="KCA",
        sbd=("KC", "KCR"),
    ),
    _t(
        119,
        "LAD",
        "Los Angeles Dodgers",
        "NL",
        "W",
        204,
        "los-angeles-dodgers",
        "America/Los_Angeles",
        34.074,
        -118.240,
        sbro=("LOS", "LAD"),
        retrosheet="LAN",
    ),
    _t(
        120,
        "WSH",
        "Washington Nationals",
        "NL",
        "E",
        216,
        "washington-nationals",
        "America/New_York",
        38.873,
        -77.007,
        mlb=("WSH", "WAS"),
        sbro="WAS",
        retrosheet="WAS",
        sbd=("WAS", "WSH"),
    ),
    _t(
        121,
        "NYM",
        "New York Mets",
        "NL",
        "E",
        213,
        "new-york-mets",
        "America/New_York",
        40.757,
        -73.846,
        sbro="NYM",
        retrosheet="NYN",
    ),
    _t(
        133,
        "ATH",
        "Athletics",
        "AL",
        "W",
        201,
        "oakland-athletics",
        "America/Los_Angeles",
        37.752,
        -122.201,
        mlb=("ATH", "OAK"),
        sbro="OAK",
        retrosheet=("OAK", "ATH"),
        sbd=("OAK", "ATH"),
        action_network=("ATH", "OAK"),
        name=("Oakland Athletics", "Sacramento Athletics"),
        vsin=("athletics",),
    ),
    _t(
        134,
        "PIT",
        "Pittsburgh Pirates",
        "NL",
        "C",
        203,
        "pittsburgh-pirates",
        "America/New_York",
        40.447,
        -80.006,
        sbro="PIT",
        retrosheet="PIT",
    ),
    _t(
        135,
        "SD",
        "San Diego Padres",
        "NL",
        "W",
        211,
        "san-diego-padres",
        "America/Los_Angeles",
        32.707,
        -117.157,
        sbro=("SDG", "SD", "SDP"),
        retrosheet="SDN",
        sbd=("SD", "SDP"),
    ),
    _t(
        136,
        "SEA",
        "Seattle Mariners",
        "AL",
        "W",
        197,
        "seattle-mariners",
        "America/Los_Angeles",
        47.591,
        -122.332,
        sbro="SEA",
        retrosheet="SEA",
    ),
    _t(
        137,
        "SF",
        "San Francisco Giants",
        "NL",
        "W",
        209,
        "san-francisco-giants",
        "America/Los_Angeles",
        37.778,
        -122.389,
        sbro=("SFO", "SFG", "SF"),
        retrosheet="SFN",
        sbd=("SF", "SFG"),
    ),
    _t(
        138,
        "STL",
        "St. Louis Cardinals",
        "NL",
        "C",
        207,
        "st.-louis-cardinals",
        "America/Chicago",
        38.623,
        -90.193,
        sbro="STL",
        retrosheet="SLN",
        vsin=("st-louis-cardinals",),
    ),
    _t(
        139,
        "TB",
        "Tampa Bay Rays",
        "AL",
        "E",
        189,
        "tampa-bay-rays",
        "America/New_York",
        27.768,
        -82.653,
        sbro=("TAM", "TB", "TBR"),
        retrosheet="TBA",
        sbd=("TB", "TBR"),
    ),
    _t(
        140,
        "TEX",
        "Texas Rangers",
        "AL",
        "W",
        200,
        "texas-rangers",
        "America/Chicago",
        32.747,
        -97.084,
        sbro="TEX",
        retrosheet="TEX",
    ),
    _t(
        141,
        "TOR",
        "Toronto Blue Jays",
        "AL",
        "E",
        188,
        "toronto-blue-jays",
        "America/Toronto",
        43.641,
        -79.389,
        sbro="TOR",
        retrosheet="TOR",
    ),
    _t(
        142,
        "MIN",
        "Minnesota Twins",
        "AL",
        "C",
        196,
        "minnesota-twins",
        "America/Chicago",
        44.982,
        -93.278,
        sbro="MIN",
        retrosheet="MIN",
    ),
    _t(
        143,
        "PHI",
        "Philadelphia Phillies",
        "NL",
        "E",
        212,
        "philadelphia-phillies",
        "America/New_York",
        39.906,
        -75.166,
        sbro="PHI",
        retrosheet="PHI",
    ),
    _t(
        144,
        "ATL",
        "Atlanta Braves",
        "NL",
        "E",
        215,
        "atlanta-braves",
        "America/New_York",
        33.891,
        -84.468,
        sbro="ATL",
        retrosheet="ATL",
    ),
    _t(
        145,
        "CWS",
        "Chicago White Sox",
        "AL",
        "C",
        194,
        "chicago-white-sox",
        "America/Chicago",
        41.830,
        -87.634,
        mlb=("CWS", "CHW"),
        sbro=("CWS", "CHW"),
        retrosheet="CHA",
        sbd=("CHW", "CWS"),
    ),
    _t(
        146,
        "MIA",
        "Miami Marlins",
        "NL",
        "E",
        214,
        "miami-marlins",
        "America/New_York",
        25.778,
        -80.220,
        mlb=("MIA", "FLA"),
        sbro=("MIA", "FLA"),
        retrosheet=("MIA", "FLO"),
        name=("Florida Marlins",),
    ),
    _t(
        147,
        "NYY",
        "New York Yankees",
        "AL",
        "E",
        191,
        "new-york-yankees",
        "America/New_York",
        40.829,
        -73.926,
        sbro="NYY",
        retrosheet="NYA",
    ),
    _t(
        158,
        "MIL",
        "Milwaukee Brewers",
        "NL",
        "C",
        208,
        "milwaukee-brewers",
        "America/Chicago",
        43.028,
        -87.971,
        sbro="MIL",
        retrosheet="MIL",
    ),
)


class UnknownTeamError(LookupError):
    """A team code no source vocabulary knows. Says which source, which code and where."""

    def __init__(self, source: str, code: object, where: str | None = None) -> None:
        location = f" at {where}" if where else ""
        super().__init__(f"unknown {source} team code {code!r}{location}")
        self.source = source
        self.code = code
        self.where = where


def _key(code: str) -> str:
    return " ".join(code.strip().upper().split())


def _build_index() -> dict[TeamSource, dict[str, Team]]:
    index: dict[TeamSource, dict[str, Team]] = {source: {} for source in TeamSource}
    for team in TEAMS:
        names = {team.name, *team.aliases.get(TeamSource.NAME, ())}
        defaults = {
            TeamSource.MLB: (team.abbr,),
            TeamSource.ACTION_NETWORK: (team.abbr,),
            TeamSource.SBD: (team.abbr,),
            TeamSource.PINNACLE: tuple(names),
            TeamSource.NAME: tuple(names),
            TeamSource.VSIN: (*names, team.url_slug, team.url_slug.replace(".", "")),
        }
        for source in TeamSource:
            for code in (*defaults.get(source, ()), *team.aliases.get(source, ())):
                previous = index[source].setdefault(_key(code), team)
                if previous is not team:
                    raise RuntimeError(f"{source} code {code!r} names two teams")
    return index


_INDEX = _build_index()
_BY_MLB_ID = {team.mlb_id: team for team in TEAMS}
_BY_AN_ID = {team.action_network_id: team for team in TEAMS}


def resolve(source: TeamSource | str, code: str, *, where: str | None = None) -> Team:
    """The franchise ``code`` names in ``source``'s vocabulary (case and spacing ignored).

    ``where`` (e.g. ``"mlb_odds_sbr_2015.csv row 12"``) goes into the error for an unknown code.
    """
    source = TeamSource(source)
    team = _INDEX[source].get(_key(code)) if isinstance(code, str) else None
    if team is None:
        raise UnknownTeamError(source.value, code, where)
    return team


def by_mlb_id(mlb_id: int) -> Team:
    """The franchise with this MLB Stats API id."""
    try:
        return _BY_MLB_ID[mlb_id]
    except KeyError:
        raise UnknownTeamError("mlb", mlb_id) from None


def by_action_network_id(an_id: int, *, where: str | None = None) -> Team:
    """The franchise with this Action Network team id (187-216)."""
    try:
        return _BY_AN_ID[an_id]
    except KeyError:
        raise UnknownTeamError("action_network", an_id, where) from None


def codes(source: TeamSource | str) -> dict[str, int]:
    """Every known code of ``source`` mapped to its MLB id, for vectorised joins.

    Keys are normalised as :func:`resolve` normalises a code (upper case, single spaces), so
    normalise the column the same way before joining (``str.to_uppercase()`` suffices for the
    short codes; full names also need runs of spaces collapsed).
    """
    return {code: team.mlb_id for code, team in _INDEX[TeamSource(source)].items()}
