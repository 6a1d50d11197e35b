"""The checks that find real faults, each judged against an ordinary day of the training seasons.

Every check takes frames (the stored feature rows, the model's predictions) and a
:class:`~mlbedge.monitoring.reference.Reference`, and returns findings grouped so that one fault
is one alert: per feature **family** for the inputs, per **model output** for the predictions.
Each finding's evidence names the features and numbers behind it and says what to look at
(``look_at``).

On the day's games (the slate of ``as_of``):

- :func:`check_missing` — features null in half or more of the day's games where, in training,
  that happened on almost no day (``missing_values``);
- :func:`check_constant` — features with one value in every game of the day where that almost
  never happened (``constant_values``: a feed stuck on a value);
- :func:`check_scale` — price, probability and line features (the float ones) whose values mostly
  fall outside the training range, as when a price arrives in another unit (decimal odds read as
  American); critical when the day's median lies beyond the range by a quarter of the feature's
  size (its range or its magnitude) or more (``scale_jump``);
- :func:`check_sides` — the market's home price against the team ratings: swapped home and away
  contradicts them on every game (``sides_swapped``);
- :func:`check_clocks` — the features that are clocks by design (day of season, games played)
  are not compared for drift (they move with the season by design) but checked for consistency:
  one season start per season, counters where the training seasons had them at that day
  (``clock``);
- :func:`check_predictions` — the model's home probability against the market's on the day,
  compared with the same gap over the previous weeks: a shift, or a spread (predictions attached
  to the wrong games) (``prediction_shift``).

Over the recent window, :func:`check_family_drift` compares each non-clock feature with **the
same part of the season** in the training seasons (rows within a week of the window's days of
season) and with how much that part of the season varied from one training season to the next
(leave one season out): a feature is unusual only when it moved more than any training season
did; a family alerts only when several of its features are unusual or one is far beyond
(``feature_drift``). That is the multiple-testing control: 170 features each tested at a fixed
PSI threshold would raise a few alarms every day by chance alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from mlbedge.features.registry import FAMILY_DESCRIPTIONS, Family, registry
from mlbedge.monitoring.alerts import (
    CLOCK,
    CONSTANT_VALUES,
    FEATURE_DRIFT,
    MISSING_VALUES,
    PREDICTION_SHIFT,
    SCALE_JUMP,
    SIDES_SWAPPED,
    Finding,
    Severity,
)
from mlbedge.monitoring.drift import bin_shares, feature_values, psi
from mlbedge.monitoring.reference import (
    MIN_CONSTANT_GAMES,
    MIN_DAY_GAMES,
    SIDES_PRICE,
    SIDES_RATING,
    Reference,
    logit,
)

RARE_DAY = 0.02  # a day-level pattern seen on at most this share of training days is unusual
RECENT_DAYS = 7  # ... and news only if it held on at most RECENT_SHARE of the days just before
RECENT_SHARE = 0.2
SEASON_PAD_DAYS = 7  # the calendar-matched baseline: the window's days of season, +- this
MIN_SEASONS = 3  # seasons needed to say how much a part of the season varies between seasons
MIN_REF_ROWS = 50
DRIFT_MARGIN = 1.5  # a feature is unusual beyond this multiple of the training seasons' largest PSI  # model-vs-market gaps needed in the weeks before the day

# What to look at, per family: the sources behind it (the registry's own words).
LOOK_AT: dict[str, str] = {
    Family.TEAM.value: "the results feed (final scores of earlier games) and the game linking",
    Family.PITCHER.value: "the probable-starters feed (starter names and hands) and its link to games",
    Family.TEMPORAL.value: "the schedule feed (dates, start times, doubleheaders) and the park table",
    Family.MARKET.value: "the odds feed (prices, their units and sides) and the link of odds to games",
    Family.SPLITS.value: "the betting-splits feed and its link to games",
}


@dataclass(frozen=True)
class DayRows:
    """The rows a pass looks at: the day's games and the recent window ending with it."""

    as_of: date
    day: pl.DataFrame
    window: pl.DataFrame
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_frame(cls, rows: pl.DataFrame, as_of: date, recent_days: int) -> DayRows:
        """Cut the day and the ``recent_days`` window ending ``as_of`` out of ``rows``."""
        start = as_of - timedelta(days=recent_days - 1)
        window = rows.filter(pl.col("date").is_between(start, as_of))
        return cls(as_of, window.filter(pl.col("date") == as_of), window)


def _family_findings(
    kind: str,
    flagged: dict[str, dict[str, Any]],
    reference: Reference,
    *,
    window: str,
    what: str,
    severity_of: Any,
    extra: dict[str, Any] | None = None,
) -> list[Finding]:
    """One finding per family with flagged features: ``flagged`` maps feature -> its numbers."""
    by_family: dict[str, dict[str, dict[str, Any]]] = {}
    for name, numbers in flagged.items():
        by_family.setdefault(reference.families.get(name, "other"), {})[name] = numbers
    out = []
    for family, features in sorted(by_family.items()):
        severity: Severity = severity_of(family, features)
        names = list(features)
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        look = LOOK_AT.get(family, "the feature pipeline")
        out.append(
            Finding(
                kind=kind,
                subject=family,
                window=window,
                severity=severity,
                message=f"{family} features {what}: {shown}. Look at {look}.",
                evidence={
                    "family": family,
                    "family_description": FAMILY_DESCRIPTIONS.get(Family(family), "")
                    if family in Family.__members__.values()
                    else "",
                    "look_at": look,
                    "n_features": len(names),
                    "features": features,
                    **(extra or {}),
                },
            )
        )
    return out


def _recent(rows: DayRows, reference: Reference) -> dict[str, float]:
    """Day-level rates of the days just before ``as_of``: a condition that held on most of them
    is no longer news (its alert was raised the day it began); a fault that starts today is."""
    key = f"recent:{reference.reference_id}"
    if key not in rows._cache:
        before = rows.window.filter(
            pl.col("date").is_between(
                rows.as_of - timedelta(days=RECENT_DAYS), rows.as_of - timedelta(days=1)
            )
        )
        rows._cache[key] = reference.recent(before) if before.height else {}
    return rows._cache[key]


def _news(recent: dict[str, float], name: str, stat: str) -> bool:
    value = recent.get(f"{name}|{stat}")
    return value is None or value <= RECENT_SHARE


def _day_of_season(day: pl.DataFrame) -> int:
    value = day["day_of_season"].cast(pl.Int32).median() if "day_of_season" in day.columns else None
    return int(value) if value is not None else 0  # type: ignore[arg-type]


def _day_window(as_of: date) -> str:
    return f"day {as_of.isoformat()}"


def check_missing(rows: DayRows, reference: Reference) -> list[Finding]:
    """Features null in at least half the day's games where training days almost never were."""
    day = rows.day
    if day.height < MIN_DAY_GAMES:
        return []
    names = [n for n in reference.features if n in day.columns]
    usual_rates = reference.usual(_day_of_season(day))
    recent = _recent(rows, reference)
    shares = day.select(pl.col(n).cast(pl.Float64).fill_nan(None).is_null().mean() for n in names).row(0)
    flagged = {}
    for name, share in zip(names, shares, strict=True):
        usual = usual_rates[name]["half_null_days"]
        if share >= 0.5 and usual is not None and usual <= RARE_DAY and _news(recent, name, "half_null_days"):
            flagged[name] = {
                "null_share_today": round(float(share), 4),
                "training_null_share": round(reference.day_stats[name]["null_share"], 4),
                "training_days_half_null": round(float(usual), 4),
            }

    def severity(_: str, features: dict[str, dict[str, Any]]) -> Severity:
        return "critical" if any(f["null_share_today"] >= 0.9 for f in features.values()) else "warning"

    return _family_findings(
        MISSING_VALUES,
        flagged,
        reference,
        window=_day_window(rows.as_of),
        what=f"missing in the {day.height} games of {rows.as_of} (rarely null in training)",
        severity_of=severity,
        extra={"games": day.height},
    )


def check_constant(rows: DayRows, reference: Reference) -> list[Finding]:
    """Features with one value across the day's games where training days almost never had one."""
    day = rows.day
    if day.height < MIN_CONSTANT_GAMES:
        return []
    names = [n for n in reference.features if n in day.columns and n not in reference.clocks]
    usual_rates = reference.usual(_day_of_season(day))
    recent = _recent(rows, reference)
    counts = day.select(
        *[pl.col(n).cast(pl.Float64).fill_nan(None).drop_nulls().n_unique().alias(f"{n}__u") for n in names],
        *[pl.col(n).cast(pl.Float64).fill_nan(None).count().alias(f"{n}__c") for n in names],
        *[pl.col(n).cast(pl.Float64).fill_nan(None).drop_nulls().first().alias(f"{n}__v") for n in names],
    ).row(0, named=True)
    flagged = {}
    for name in names:
        usual = usual_rates[name].get("constant_days")
        if (
            counts[f"{name}__c"] >= MIN_CONSTANT_GAMES
            and counts[f"{name}__u"] == 1
            and usual is not None
            and usual <= RARE_DAY
            and _news(recent, name, "constant_days")
        ):
            flagged[name] = {
                "value": counts[f"{name}__v"],
                "games": counts[f"{name}__c"],
                "training_days_constant": round(float(usual), 4),
            }

    def severity(_: str, features: dict[str, dict[str, Any]]) -> Severity:
        return "warning"  # a stuck value may be a quiet day of a flat market: look, not page

    return _family_findings(
        CONSTANT_VALUES,
        flagged,
        reference,
        window=_day_window(rows.as_of),
        what=f"stuck on one value across the games of {rows.as_of}",
        severity_of=severity,
    )


def check_scale(rows: DayRows, reference: Reference) -> list[Finding]:
    """Features whose values mostly fall outside the training range (a change of unit or scale)."""
    day = rows.day
    if day.height < MIN_DAY_GAMES:
        return []
    flagged = {}
    # Prices, probabilities and lines (floats); a count of books or quotes that grows is drift.
    floats = {f.name for f in registry() if f.dtype == "float64"}
    names = [
        n
        for n in reference.features
        if n in day.columns
        and n in floats
        and n not in reference.clocks
        and reference.day_stats[n]["lo"] is not None
    ]
    values = day.select(pl.col(n).cast(pl.Float64).fill_nan(None) for n in names)
    recent = _recent(rows, reference)
    for name in names:
        s = reference.day_stats[name]
        present = values[name].drop_nulls()
        if (
            present.len() < MIN_DAY_GAMES
            or (s.get("outside_days") or 0.0) > RARE_DAY / 2
            or not _news(recent, name, "outside_days")
        ):
            continue
        out = ((present < s["lo"]) | (present > s["hi"])).mean()
        if out is not None and out >= 0.5:
            median = float(present.median())  # type: ignore[arg-type]
            # How far outside, relative to the feature's own size (its range, or its magnitude).
            size = max(s["hi"] - s["lo"], abs(s["lo"]), abs(s["hi"]), 1e-9)
            beyond = max(s["lo"] - median, median - s["hi"], 0.0) / size
            flagged[name] = {
                "outside_share_today": round(float(out), 4),
                "median_today": median,
                "training_range": [s["lo"], s["hi"]],
                "beyond_share_of_size": round(beyond, 4),
            }
    return _family_findings(
        SCALE_JUMP,
        flagged,
        reference,
        window=_day_window(rows.as_of),
        what=f"outside their training range on {rows.as_of} (a unit or scale change?)",
        # A unit change lands far away (decimal odds read as American: an overround of 1.96 where
        # 1.04-1.05 is the range); a new book's slightly lower margin (1.035) lands just outside.
        severity_of=lambda _, features: (
            "critical" if any(f["beyond_share_of_size"] >= 0.25 for f in features.values()) else "warning"
        ),
    )


def sides_score(day: pl.DataFrame, reference: Reference) -> tuple[float, int] | None:
    """``z``: how strongly the day's market home prices agree with the team ratings, in noise
    units (ordinary days: large and positive; home and away swapped: as large and negative)."""
    model = reference.sides
    if model is None or SIDES_PRICE not in day.columns or SIDES_RATING not in day.columns:
        return None
    xy = day.select(x=logit(SIDES_RATING), y=logit(SIDES_PRICE)).drop_nulls()
    if xy.height < MIN_DAY_GAMES:
        return None
    mu = model.a + model.b * xy["x"].to_numpy()
    y = xy["y"].to_numpy()
    # Log-likelihood ratio of "as rated" (y ~ mu) against "swapped" (y ~ -mu), scaled to z units.
    z = float(np.sum(y * mu) / (model.sigma * np.sqrt(np.sum(mu * mu))))
    return z, xy.height


def check_sides(rows: DayRows, reference: Reference) -> list[Finding]:
    """Home and away swapped in the prices: the market contradicts the ratings on the day."""
    scored = sides_score(rows.day, reference)
    if scored is None:
        return []
    z, n = scored
    if z >= 0.0:
        return []
    severity: Severity = "critical" if z < -3.0 else "warning"
    disagree = rows.day.select(((logit(SIDES_PRICE) > 0) != (pl.col(SIDES_RATING) > 0.5)).mean()).item()
    return [
        Finding(
            kind=SIDES_SWAPPED,
            subject="market",
            window=_day_window(rows.as_of),
            severity=severity,
            message=(
                f"the market's home prices contradict the team ratings on {rows.as_of} "
                f"(agreement z {z:+.1f} over {n} games; ordinary days are strongly positive): home and "
                f"away look swapped. Look at {LOOK_AT['market']}."
            ),
            evidence={
                "z": round(z, 3),
                "games": n,
                "favourite_disagreement_share": round(float(disagree or 0.0), 4),
                "relation": {"a": reference.sides.a, "b": reference.sides.b, "sigma": reference.sides.sigma}
                if reference.sides
                else None,
                "look_at": LOOK_AT["market"],
            },
        )
    ]


def check_clocks(rows: DayRows, reference: Reference) -> list[Finding]:
    """Clock features consistent: one season start per season in the window, and the day's
    counters where the training seasons had them at the same day of season."""
    window, day = rows.window, rows.day
    if day.is_empty() or "day_of_season" not in day.columns:
        return []
    flagged: dict[str, dict[str, Any]] = {}
    season = day["season"][0] if "season" in day.columns else None
    same = window.filter(pl.col("season") == season) if season is not None else window
    starts = same.select(
        (pl.col("date") - pl.duration(days=pl.col("day_of_season").cast(pl.Int64))).unique()
    ).to_series()
    if starts.len() > 1:
        flagged["day_of_season"] = {"season_starts_seen": sorted(str(s) for s in starts.to_list())}
    dos = day["day_of_season"].cast(pl.Int32).median()
    matched = reference.rows.filter(pl.col("_dos").is_between(int(dos) - 3, int(dos) + 3))  # type: ignore[arg-type]
    counters = [c for c in reference.clocks if c != "day_of_season" and c in day.columns]
    if matched.height and counters and day.height >= MIN_DAY_GAMES:
        per_season = matched.group_by("season").agg(pl.col(c).mean() for c in counters)
        today = day.select(pl.col(c).cast(pl.Float64).mean() for c in counters).row(0, named=True)
        for c in counters:
            lo, hi = per_season[c].min(), per_season[c].max()
            if lo is None or today[c] is None:
                continue
            slack = max(3.0, 0.5 * (hi - lo), 0.25 * abs(hi))  # type: ignore[operator]
            if not (lo - slack <= today[c] <= hi + slack):  # type: ignore[operator]
                flagged[c] = {
                    "mean_today": round(float(today[c]), 3),
                    "training_range_at_day_of_season": [float(lo), float(hi)],  # type: ignore[arg-type]
                    "day_of_season": int(dos),  # type: ignore[arg-type]
                }
    return _family_findings(
        CLOCK,
        flagged,
        reference,
        window=_day_window(rows.as_of),
        what=f"(clocks by design) inconsistent with the calendar on {rows.as_of}",
        severity_of=lambda *_: "warning",
    )


# ----------------------------------------------------------------------------------------------
# drift, calendar-matched, per family


@dataclass(frozen=True)
class FamilyFeatureDrift:
    """One feature's PSI on the window against the same part of the training seasons, and the
    largest PSI any single training season showed there against the others (``reference_psi``)."""

    feature: str
    family: str
    psi: float
    reference_psi: float | None
    unusual: bool


def _shares(values: pl.Series, edges: tuple[float, ...]) -> np.ndarray:
    return bin_shares(feature_values(values), edges)


def family_drift(
    rows: DayRows,
    reference: Reference,
    *,
    min_rows: int,
    psi_floor: float,
) -> tuple[list[FamilyFeatureDrift], str | None]:
    """Every non-clock feature's calendar-matched drift (see the module); or why none was measured."""
    window = rows.window
    if window.height < min_rows:
        return [], f"{window.height} games in the window, fewer than {min_rows}: no verdict"
    dos = window["day_of_season"].cast(pl.Int32)
    d_lo, d_hi = int(dos.min()), int(dos.max())  # type: ignore[arg-type]
    pool = reference.rows.filter(pl.col("_dos").is_between(d_lo - SEASON_PAD_DAYS, d_hi + SEASON_PAD_DAYS))
    seasons = [
        s
        for s in reference.seasons
        if pool.filter((pl.col("season") == s) & pl.col("_dos").is_between(d_lo, d_hi)).height
        >= min_rows // 2
    ]
    if pool.height < min_rows:
        return [], f"the training seasons have {pool.height} games at days {d_lo}..{d_hi} of the season"
    own = {s: pool.filter((pl.col("season") == s) & pl.col("_dos").is_between(d_lo, d_hi)) for s in seasons}
    rest = {s: pool.filter(pl.col("season") != s) for s in seasons}
    out = []
    for name in reference.features:
        if name in reference.clocks or name not in window.columns:
            continue
        edges = reference.edges[name]
        value = psi(_shares(pool[name], edges), _shares(window[name], edges))
        ref: float | None = None
        if len(seasons) >= MIN_SEASONS:
            ref = max(psi(_shares(rest[s][name], edges), _shares(own[s][name], edges)) for s in seasons)
        # Beyond what any training season showed here, by a margin: nine seasons are few.
        threshold = max(DRIFT_MARGIN * (ref if ref is not None else 0.0), psi_floor)
        out.append(
            FamilyFeatureDrift(name, reference.families.get(name, "other"), value, ref, value > threshold)
        )
    return out, None


def check_family_drift(
    rows: DayRows,
    reference: Reference,
    *,
    min_rows: int,
    psi_floor: float,
    family_share: float,
    strong_ratio: float,
) -> tuple[list[FamilyFeatureDrift], list[Finding], str | None]:
    """Family-level drift findings: a family alerts when at least ``family_share`` of its features
    (and two) moved beyond what any training season did at this part of the season, or one moved
    ``strong_ratio`` times beyond it."""
    drifts, skipped = family_drift(rows, reference, min_rows=min_rows, psi_floor=psi_floor)
    if skipped:
        return [], [], skipped
    start, end = rows.window["date"].min(), rows.window["date"].max()
    findings = []
    by_family: dict[str, list[FamilyFeatureDrift]] = {}
    for d in drifts:
        by_family.setdefault(d.family, []).append(d)
    for family, features in sorted(by_family.items()):
        unusual = sorted((d for d in features if d.unusual), key=lambda d: -d.psi)
        strong = [
            d
            for d in unusual
            if d.psi >= strong_ratio * max(DRIFT_MARGIN * (d.reference_psi or 0.0), psi_floor)
        ]
        many = len(unusual) >= max(2, int(np.ceil(family_share * len(features))))
        if not (many or strong):
            continue
        # Drift says "look", not "broken": the day checks above are the ones that go critical.
        severity: Severity = "warning"
        look = LOOK_AT.get(family, "the feature pipeline")
        shown = ", ".join(f"{d.feature} (PSI {d.psi:.2f} vs {d.reference_psi or 0:.2f})" for d in unusual[:5])
        findings.append(
            Finding(
                kind=FEATURE_DRIFT,
                subject=family,
                window=f"{reference.reference_id}:{start}..{end}",
                severity=severity,
                message=(
                    f"{len(unusual)} of {len(features)} {family} features moved more than in any training "
                    f"season at this part of the season ({start}..{end}): {shown}. Look at {look}."
                ),
                evidence={
                    "family": family,
                    "look_at": look,
                    "n_features": len(features),
                    "n_unusual": len(unusual),
                    "recent_window": [str(start), str(end)],
                    "recent_rows": rows.window.height,
                    "features": {
                        d.feature: {"psi": round(d.psi, 4), "reference_psi": d.reference_psi}
                        for d in unusual[:20]
                    },
                },
            )
        )
    return drifts, findings, None


# ----------------------------------------------------------------------------------------------
# the model's output


@dataclass(frozen=True)
class PredictionGap:
    """The model's home-win logit minus the market's on the day, against the weeks before."""

    n_today: int
    n_reference: int
    mean_today: float
    mean_reference: float
    sd_reference: float
    spread_today: float  # mean |gap - reference mean| today
    spread_reference: float

    @property
    def z(self) -> float:
        """The day's mean gap, in standard errors from the reference mean."""
        return (self.mean_today - self.mean_reference) / (self.sd_reference / np.sqrt(self.n_today))

    @property
    def spread_ratio(self) -> float:
        """How much further from the market the day's predictions scatter than usual."""
        return self.spread_today / self.spread_reference if self.spread_reference > 0 else float("inf")


def prediction_gap(
    predictions: pl.DataFrame, features: pl.DataFrame, as_of: date, *, reference_days: int = 28
) -> PredictionGap | None:
    """Model-vs-market gaps of the moneyline model on ``as_of`` and the ``reference_days`` before.

    ``predictions``: ``game_id, date, p_model`` of the moneyline target; ``features`` supplies the
    market's home probability at the cutoff (``ml_home_prob``) of the same games.
    """
    rows = (
        predictions.select("game_id", "date", "p_model")
        .join(features.select("game_id", SIDES_PRICE), on="game_id", how="inner")
        .filter(pl.col("date").is_between(as_of - timedelta(days=reference_days), as_of))
        .with_columns(gap=logit("p_model") - logit(SIDES_PRICE))
        .drop_nulls("gap")
    )
    today = rows.filter(pl.col("date") == as_of)["gap"].to_numpy()
    before = rows.filter(pl.col("date") < as_of)["gap"].to_numpy()
    if today.size < MIN_DAY_GAMES or before.size < MIN_REF_ROWS:
        return None
    centre = float(np.mean(before))
    return PredictionGap(
        n_today=int(today.size),
        n_reference=int(before.size),
        mean_today=float(np.mean(today)),
        mean_reference=centre,
        sd_reference=max(float(np.std(before)), 1e-3),
        spread_today=float(np.mean(np.abs(today - centre))),
        spread_reference=max(float(np.mean(np.abs(before - centre))), 1e-3),
    )


def check_predictions(
    predictions: pl.DataFrame,
    features: pl.DataFrame,
    as_of: date,
    *,
    subject: str = "moneyline",
    z_warning: float = 4.0,
    z_critical: float = 6.0,
    spread_warning: float = 2.0,
    spread_critical: float = 3.0,
) -> tuple[PredictionGap | None, list[Finding]]:
    """A finding when the day's predictions moved away from the market more than they used to."""
    gap = prediction_gap(predictions, features, as_of)
    if gap is None:
        return None, []
    z, ratio = abs(gap.z), gap.spread_ratio
    severity: Severity | None = None
    if z >= z_critical or ratio >= spread_critical:
        severity = "critical"
    elif z >= z_warning or ratio >= spread_warning:
        severity = "warning"
    if severity is None:
        return gap, []
    look = (
        "the model being served (its version and inputs) and the join of predictions to games; "
        "if an input alert fired too, start there"
    )
    return gap, [
        Finding(
            kind=PREDICTION_SHIFT,
            subject=subject,
            window=_day_window(as_of),
            severity=severity,
            message=(
                f"{subject} predictions of {as_of} sit away from the market: mean logit gap "
                f"{gap.mean_today:+.3f} vs {gap.mean_reference:+.3f} over the {gap.n_reference} games "
                f"before (z {gap.z:+.1f}), scatter {ratio:.1f}x the usual. Look at {look}."
            ),
            evidence={
                "games": gap.n_today,
                "mean_gap_today": round(gap.mean_today, 4),
                "mean_gap_before": round(gap.mean_reference, 4),
                "sd_gap_before": round(gap.sd_reference, 4),
                "z": round(gap.z, 3),
                "spread_ratio": round(ratio, 3),
                "reference_games": gap.n_reference,
                "look_at": look,
            },
        )
    ]


def day_checks(rows: DayRows, reference: Reference) -> list[Finding]:
    """Every check of the day's feature rows (missing, constant, scale, sides, clocks)."""
    return [
        *check_missing(rows, reference),
        *check_constant(rows, reference),
        *check_scale(rows, reference),
        *check_sides(rows, reference),
        *check_clocks(rows, reference),
    ]
