"""The slate dashboard: ``GET /`` renders one date's games, the model's and the market's
probabilities, the edges, the recommended stakes, the latest backtest's bankroll curve and the
open alerts, as plain server-rendered HTML (an inline SVG for the curve; no script).

Every number comes from the functions the JSON routes use (the schedule, the predictions and the
recommendations of :mod:`mlbedge.serving`), so the page and the API cannot disagree. The latest
backtest is the one :func:`save_backtest` recorded under ``MLBEDGE_HOME/reports``.
"""

from __future__ import annotations

import html
import json
import logging
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from mlbedge.betting import ledger
from mlbedge.serving.dependencies import ServingState, get_state
from mlbedge.serving.models import NoChampionError
from mlbedge.serving.slate import local_start
from mlbedge.serving.slate_cards import slate_cards
from mlbedge.settings import Settings
from mlbedge.store.base import StoreError

log = logging.getLogger(__name__)

TEMPLATE = Path(__file__).with_name("templates") / "dashboard.html"
LATEST_BACKTEST = "latest_backtest.json"
DEFAULT_BANKROLL = 1000.0

router = APIRouter(tags=["dashboard"])


# ---- the latest backtest ------------------------------------------------------------------------


def backtest_path(settings: Settings) -> Path:
    """Where the latest backtest's summary and curve are kept."""
    return settings.home / "reports" / LATEST_BACKTEST


def save_backtest(season: Any, doc: dict[str, Any], settings: Settings) -> Path:
    """Record a season backtest (:class:`mlbedge.research.seasons.SeasonBacktest` and its
    ``to_json`` document) as the latest one the dashboard shows."""
    curve = season.result.curve()
    points = [
        [ts.isoformat() if ts is not None else None, float(b)]
        for ts, b in zip(curve["observed_at"].to_list(), curve["bankroll"].to_list(), strict=True)
    ]
    summary = doc.get("all", {})
    record = {
        "test_season": doc.get("test_season"),
        "train_seasons": doc.get("train_seasons"),
        "initial_bankroll": doc.get("initial_bankroll"),
        "final_bankroll": summary.get("final_bankroll"),
        "roi": summary.get("roi"),
        "n_bets": summary.get("n_bets"),
        "max_drawdown": summary.get("max_drawdown"),
        "verdict": doc.get("verdict"),
        "saved_at": datetime.now(UTC).isoformat(),
        "curve": points,
    }
    path = backtest_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, default=str))
    tmp.replace(path)  # readers never see half a file
    return path


def load_backtest(settings: Settings) -> dict[str, Any] | None:
    """The latest recorded backtest, or None when there is none (or it cannot be read)."""
    path = backtest_path(settings)
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("cannot read the latest backtest %s: %s", path, exc)
        return None


def curve_svg(points: list[tuple[float, float]], *, width: int = 720, height: int = 220) -> str:
    """An SVG line of ``(x, y)`` points scaled into the box, with the y range labelled."""
    pad = 40
    if len(points) < 2:
        return '<p class="muted">Not enough points for a curve.</p>'
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    span_x = (x1 - x0) or 1.0
    span_y = (y1 - y0) or 1.0

    def sx(x: float) -> float:
        return pad + (x - x0) / span_x * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad / 2 - (y - y0) / span_y * (height - pad)

    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    start_y = sy(ys[0])
    return (
        f'<svg id="backtest-curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="bankroll curve">'
        f'<line x1="{pad}" y1="{start_y:.1f}" x2="{width - pad}" y2="{start_y:.1f}" stroke="#c9ced4" '
        'stroke-dasharray="4 3"/>'
        f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{line}"/>'
        f'<text x="4" y="{sy(y1) + 4:.1f}" font-size="11">{y1:,.0f}</text>'
        f'<text x="4" y="{sy(y0) + 4:.1f}" font-size="11">{y0:,.0f}</text>'
        "</svg>"
    )


def _ledger_html(placed: Any) -> str:
    """The recorded bets (``mlbedge bets``): the verdict, and cumulative profit by the game's date."""
    if placed.is_empty():
        return '<p class="muted" id="ledger-none">No bets recorded (<code>mlbedge bets add</code> or POST /v1/bets).</p>'
    summary = ledger.ledger_report(placed, n_resamples=500)
    days = summary.by_day
    points = [
        (datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp(), float(p))
        for d, p in zip(days["date"].to_list(), days["cumulative_profit"].to_list(), strict=True)
    ]
    clv = days["cumulative_clv_mean"].drop_nulls()
    clv_text = f"; mean CLV to date {clv[-1] * 100:+.2f}%" if clv.len() else ""
    return f'<p id="ledger-verdict"><b>{html.escape(summary.verdict())}</b>{clv_text}</p>' + curve_svg(
        [(0.0 if not points else points[0][0] - 86400.0, 0.0), *points]
    ).replace('id="backtest-curve"', 'id="ledger-curve"')


def _backtest_html(record: dict[str, Any] | None) -> str:
    if record is None:
        return '<p class="muted" id="backtest-none">No backtest recorded yet (run <code>mlbedge demo</code>).</p>'
    points = []
    for ts, bankroll in record.get("curve", []):
        if ts is None:
            continue
        points.append((datetime.fromisoformat(ts).timestamp(), float(bankroll)))
    train = record.get("train_seasons") or []
    seasons = f"{train[0]}-{train[-1]}" if train else "?"
    verdict = record.get("verdict")
    return (
        (f'<p id="backtest-verdict"><b>{_text(verdict)}</b></p>' if verdict else "")
        + f'<p id="backtest-summary">Season {_text(record.get("test_season"))} (trained on {seasons}): '
        f"{_text(record.get('n_bets'))} bets, ROI <b>{_pct(record.get('roi'))}</b>, bankroll "
        f'{_num(record.get("initial_bankroll"), 0)} → <b id="backtest-final">{_num(record.get("final_bankroll"), 2)}</b>, '
        f"max drawdown {_pct(record.get('max_drawdown'))}.</p>" + curve_svg(points)
    )


# ---- formatting ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else html.escape(str(value))


def _line(value: float | None) -> str:
    """A line as offered: 7.75 stays 7.75 (never rounded to "7.8"), 8.0 is 8."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:g}"


def _starter(name: str | None) -> str:
    """`` (probable pitcher)`` after a team, or nothing when none is listed."""
    return f' <span class="muted">({html.escape(name)})</span>' if name else ""


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value * 100:.2f}%"


def _signed(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "<td></td>"
    cls = "pos" if value > 0 else "neg" if value < 0 else ""
    return f'<td class="{cls}" data-field="edge">{value:+.4f}</td>'


# ---- the page -----------------------------------------------------------------------------------


def default_day(state: ServingState) -> date:
    """The latest date with games up to today (US Eastern), else today."""
    from mlbedge.ingest import slate_day

    today = slate_day(datetime.now(UTC))
    with state.connection() as conn:
        row = conn.execute("SELECT max(date) FROM curated.games WHERE date <= %s", (today,)).fetchone()
    return row[0] if row and row[0] is not None else today


def _alerts_panel(alerts: list[Any]) -> str:
    """Open alerts grouped by kind, worst first; each group with where to look and its evidence."""
    from mlbedge.monitoring.alerts import group_alerts

    if not alerts:
        return '<p class="muted" id="alerts-none">No open alerts.</p>'
    by_id = {a.alert_id: a for a in alerts}
    rows = []
    for g in group_alerts(alerts):
        look = f" — look at {html.escape('; '.join(g.look_at))}" if g.look_at else ""
        rows.append(
            f'<tr class="alert-group"><td class="text sev-{g.severity}">{g.severity}</td>'
            f'<td class="text" colspan="3"><b>{html.escape(g.kind)}</b> ({g.count}){look}</td></tr>'
        )
        rows += [
            f'<tr class="alert" data-alert-id="{i}"><td></td><td class="text">{html.escape(by_id[i].subject)}</td>'
            f'<td class="text">{html.escape(by_id[i].message)}<br><span class="muted">{html.escape(line)}</span></td>'
            f"<td>{by_id[i].created_at:%Y-%m-%d %H:%M}</td></tr>"
            for i, line in zip(g.alert_ids, g.evidence, strict=True)
        ]
    return (
        '<table id="alerts"><thead><tr><th>Severity</th><th>Subject</th><th>Message and evidence</th>'
        "<th>Since</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def slate(state: ServingState, day: date, bankroll: float) -> dict[str, Any]:
    """The page's numbers for ``day``: games, predictions, recommendations, alerts, notices."""
    from mlbedge.monitoring.alerts import list_alerts
    from mlbedge.serving.answers import to_predictions
    from mlbedge.serving.predict import predict_rows
    from mlbedge.serving.routers.recommendations import recommend_slate
    from mlbedge.serving.slate import game_status, games_on, offered_prices
    from mlbedge.serving.slate_cards import starters

    notices: list[str] = []
    with state.connection() as conn:
        games = games_on(conn, day, state.settings.cutoff_minutes)
        games = games.join(game_status(conn, games), on="game_id", how="left")
        # The cards: each game's starters and the prices in force at its cutoff, every book.
        pitchers = starters(conn, games["game_id"].to_list())
        offers = offered_prices(conn, games)
        placed = ledger.list_bets(conn)  # the bets the user recorded: profit and CLV over time
        try:
            alerts = list_alerts(conn, limit=20)
        except Exception as exc:  # monitoring not set up yet: the page still shows the slate
            alerts = []
            notices.append(f"alerts unavailable: {exc}")
    predictions: dict[str, Any] = {}
    recommendation = None
    models = state.models.current
    try:
        models.require()
        read = state.store.read_slate(day)
        if read.degraded:
            notices.append("the online store is unreachable: features read from PostgreSQL")
        for p in to_predictions(predict_rows(models, read.rows), read.degraded) if read.rows else []:
            predictions[p.game_id] = p
        recommendation = recommend_slate(state, day, bankroll, state.settings.recommend_kelly_fraction)
    except NoChampionError as exc:
        notices.append(str(exc))
    except StoreError as exc:
        notices.append(f"online store unavailable: {exc}")
    close: dict[str, Any] = {}
    try:
        from mlbedge.serving.routers.close import close_slate

        close = {g.game_id: g for g in close_slate(state, day).games}
    except StoreError as exc:
        notices.append(f"predicted close unavailable: {exc}")
    if not games.is_empty() and not predictions:
        notices.append(f"no features of {day} in the online store: run `mlbedge pipeline run --date {day}`")
    return {
        "games": games,
        "pitchers": pitchers,
        "ledger": placed,
        "offers": offers,
        "predictions": predictions,
        "recommendation": recommendation,
        "alerts": alerts,
        "notices": notices,
        "models": {t: f"{m.name} v{m.version}" for t, m in models.models.items()},
        "close": close,
    }


def render(state: ServingState, day: date, bankroll: float) -> str:
    """The dashboard page of ``day``."""
    data = slate(state, day, bankroll)
    bets = data["recommendation"].bets if data["recommendation"] is not None else []
    stakes: dict[tuple[str, str], list[Any]] = {}
    for bet in bets:
        stakes.setdefault((bet.game_id, bet.market), []).append(bet)
    rows = []
    for game in data["games"].iter_rows(named=True):
        gid = html.escape(game["game_id"])
        if game["game_pk"] is not None:
            gid += f' <span class="muted" data-field="game-pk">{int(game["game_pk"])}</span>'
        matchup = (
            f"{_text(game['away_team'])}{_starter(game['away_starter'])} @ "
            f"{_text(game['home_team'])}{_starter(game['home_starter'])}"
            f' <span class="muted" data-field="status">{_text(game["status"])}</span>'
        )
        local = local_start(game["start_time_utc"], game["home_team_id"])
        start = local.strftime("%H:%M %Z") if local is not None else ""
        prediction = data["predictions"].get(game["game_id"])
        markets = prediction.markets if prediction is not None else []
        if not markets:
            rows.append(
                f'<tr data-game="{gid}"><td>{gid}</td><td class="text">{matchup}</td><td>{start}</td>'
                '<td class="text muted" colspan="6">no prediction</td></tr>'
            )
            continue
        for market in markets:
            side = market.sides[0]
            placed = stakes.get((game["game_id"], market.market), [])
            stake = " ".join(f"{b.stake:,.2f} {b.side}" for b in placed)
            rows.append(
                f'<tr data-game="{gid}" data-market="{market.market}"><td>{gid}</td>'
                f'<td class="text">{matchup}</td><td>{start}</td><td class="text">{market.market}</td>'
                f'<td data-field="line">{_line(market.line)}</td>'
                f'<td data-field="model">{_num(side.probability)}</td>'
                f'<td data-field="market-p">{_num(side.market_probability)}</td>'
                f"{_signed(side.edge)}"
                f'<td data-field="stake">{stake}</td></tr>'
            )
    bet_rows = [
        f'<tr data-game="{html.escape(b.game_id)}" data-market="{b.market}" data-side="{b.side}">'
        f'<td>{html.escape(b.game_id)}</td><td class="text">{b.market}</td><td class="text">{b.side}</td>'
        f'<td class="text">{html.escape(b.book)}</td><td data-field="bet" class="text">{html.escape(b.bet)}</td>'
        f"<td>{b.odds:+d}</td>"
        f'<td>{_num(b.probability)}</td>{_signed(b.edge)}<td data-field="stake">{b.stake:,.2f}</td></tr>'
        for b in bets
    ]
    alerts = data["alerts"]
    alerts_html = _alerts_panel(alerts)
    total = data["recommendation"].total_stake if data["recommendation"] is not None else 0.0
    recommendation = data["recommendation"]
    gates = recommendation.gates if recommendation is not None else {}
    applied = recommendation.gates_applied if recommendation is not None else True
    cards = slate_cards(data["games"], data["pitchers"], data["offers"], bets, gates, applied, data["close"])
    page = Template(TEMPLATE.read_text(encoding="utf-8"))
    return page.substitute(
        date=day.isoformat(),
        prev=(day - timedelta(days=1)).isoformat(),
        next=(day + timedelta(days=1)).isoformat(),
        bankroll=f"{bankroll:g}",
        notices="".join(f'<div class="notice">{html.escape(n)}</div>' for n in data["notices"]),
        n_games=data["games"].height,
        n_bets=len(bets),
        total_stake=f"{total:,.2f}",
        models=html.escape(", ".join(f"{t}: {v}" for t, v in data["models"].items()) or "none loaded"),
        game_rows="\n".join(rows)
        or f'<tr><td colspan="9" class="text muted" id="no-games">No games on {day}.</td></tr>',
        bet_rows="\n".join(bet_rows)
        or '<tr><td colspan="9" class="text muted" id="no-bets">No bets.</td></tr>',
        backtest=_backtest_html(load_backtest(state.settings)),
        cards=cards,
        ledger=_ledger_html(data["ledger"]),
        alerts=alerts_html,
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(
    day: Annotated[date | None, Query(alias="date", description="The local game date, YYYY-MM-DD.")] = None,
    bankroll: Annotated[float, Query(gt=0, le=1e12, allow_inf_nan=False)] = DEFAULT_BANKROLL,
    state: ServingState = Depends(get_state),
) -> HTMLResponse:
    """The slate dashboard of ``date`` (default: the latest date with games)."""
    return HTMLResponse(render(state, day or default_day(state), bankroll))
