"""Targets on real games (labels, lines, pushes, benchmarks) and the side-by-side evaluation."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mlbedge.features.registry import LABEL_ONLY
from mlbedge.training.evaluation import compare, markdown_table
from mlbedge.training.targets import MARGIN, TARGETS, handicap_rows, model_columns, parse_targets


def test_no_label_or_closing_price_is_a_model_input(training_data) -> None:
    """Rule: results, closing lines and SBRO's run line are labels and benchmarks, never model inputs."""
    for target in TARGETS.values():
        inputs = set(model_columns(training_data.feature_names, target))
        assert not inputs & set(LABEL_ONLY), target.name
        assert not inputs & {"y", "market_open", "market_close"}, target.name


def test_moneyline_labels_and_benchmarks(training_data) -> None:
    frame = training_data.labelled("moneyline").join(training_data.labels, on="game_id")
    decided = frame.filter(pl.col("home_score").is_not_null())
    ties = decided.filter(pl.col("home_score") == pl.col("away_score"))
    assert ties["y"].null_count() == ties.height
    wins = decided.filter(pl.col("home_score") > pl.col("away_score"))
    assert (wins["y"] == 1.0).all()
    both = frame.filter(pl.col("market_open").is_not_null())
    assert ((both["market_open"] > 0) & (both["market_open"] < 1)).all()
    # The opening benchmark is the de-vigged SBRO open: the favourite has the larger probability.
    favourite = both.filter(pl.col("home_ml_open") < pl.col("away_ml_open"))
    assert (favourite["market_open"] > 0.5).all()


def test_total_pushes_are_no_label_and_close_only_on_the_same_line(training_data) -> None:
    frame = training_data.labelled("total").join(training_data.labels, on="game_id")
    runs = frame["home_score"] + frame["away_score"]
    pushes = frame.filter(runs == frame["total_open"])
    assert pushes.height > 100 and pushes["y"].null_count() == pushes.height
    assert (frame["target_line"] == frame["total_open"]).fill_null(True).all()
    other_line = frame.filter(pl.col("total_close") != pl.col("total_open"))
    assert other_line.height > 1000 and other_line["market_close"].null_count() == other_line.height
    same_line = frame.filter(
        pl.col("total_close") == pl.col("total_open"), pl.col("over_odds_close").is_not_null()
    )
    assert same_line["market_close"].null_count() < same_line.height * 0.01


def test_runline_follows_the_favourite_at_the_cutoff(training_data) -> None:
    frame = training_data.labelled("runline").join(training_data.labels, on="game_id")
    priced = frame.filter(pl.col("ml_home_prob").is_not_null())
    expected = np.where(priced["ml_home_prob"].to_numpy() > 0.5, -1.5, 1.5)
    assert np.array_equal(priced["target_line"].to_numpy(), expected)
    covered = priced.filter(pl.col("y") == 1.0)
    margin = covered["home_score"] - covered["away_score"] + covered["target_line"]
    assert (margin > 0).all()
    # SBRO's run-line price is a benchmark only where its line is the one predicted.
    mismatched = frame.filter(pl.col("home_rl") != pl.col("target_line"))
    assert mismatched["market_close"].null_count() == mismatched.height


def test_parse_targets() -> None:
    assert [t.name for t in parse_targets("moneyline, total,moneyline")] == ["moneyline", "total"]
    with pytest.raises(ValueError, match="unknown target 'spread'"):
        parse_targets("spread")


def test_market_benchmarks_match_the_design_numbers(training_data) -> None:
    """The de-vigged SBRO moneyline of 2015-2020 scores as DESIGN.md says (open 0.6743, close 0.6717)."""
    frame = training_data.labelled("moneyline").filter(pl.col("season").is_between(2015, 2020))
    predictions = frame.select(
        pl.lit("moneyline").alias("target"),
        "season",
        "y",
        pl.col("market_open").alias("p_model"),
        "market_open",
        "market_close",
    )
    scores, differences = compare(predictions, n_resamples=200)
    pooled = scores.filter(pl.col("season") == "pooled", pl.col("scope") == "common")
    by_source = {r["source"]: r for r in pooled.iter_rows(named=True)}
    assert by_source["market_open"]["n_games"] > 13_000
    assert by_source["market_open"]["log_loss"] == pytest.approx(0.6743, abs=0.0006)
    assert by_source["market_close"]["log_loss"] == pytest.approx(0.6717, abs=0.0006)
    assert by_source["market_open"]["brier"] == pytest.approx(0.2407, abs=0.0004)
    assert 0.55 < by_source["market_open"]["auc"] < 0.65
    # A "model" that IS the closing line: its difference from the opening line is the per-game
    # log-loss gap of the two lines, recomputed here from the prices, and its interval holds it.
    closer = predictions.with_columns(p_model=pl.col("market_close"))
    _, vs_open = compare(closer, n_resamples=200)
    both = frame.filter(
        pl.col("y").is_not_null(), pl.col("market_open").is_not_null(), pl.col("market_close").is_not_null()
    )
    y, p_open, p_close = (both[c].to_numpy() for c in ("y", "market_open", "market_close"))

    def loss(p: np.ndarray) -> np.ndarray:
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))

    gap = vs_open.filter(
        pl.col("season") == "pooled", pl.col("versus") == "market_open", pl.col("metric") == "log_loss",
        pl.col("scope") == "common",
    )  # fmt: skip
    assert gap["n_games"][0] == both.height
    assert gap["estimate"][0] == pytest.approx(float(np.mean(loss(p_close) - loss(p_open))), abs=1e-12)
    assert gap["ci_low"][0] < gap["estimate"][0] < gap["ci_high"][0] < 0
    closing = differences.filter(
        pl.col("season") == "pooled", pl.col("versus") == "market_close", pl.col("metric") == "log_loss"
    )
    assert closing["ci_low"][0] < closing["estimate"][0] < closing["ci_high"][0]
    assert closing["estimate"][0] > 0  # the close is sharper than the open
    assert set(scores["season"].unique()) == {*(str(s) for s in range(2015, 2021)), "pooled"}
    table = markdown_table(scores, differences, "moneyline")
    assert "| pooled |" in table and "0.67" in table


def test_runline_is_also_labelled_at_the_opposite_handicap(training_data) -> None:
    """Each decided game again at minus its line, labelled from the real scores, never benchmarked."""
    frame = training_data.labelled("runline")
    original = frame.filter(pl.col(MARGIN).is_not_null() & pl.col("target_line").is_not_null())
    flipped = handicap_rows(frame).slice(frame.height)
    assert flipped.height == original.height > 10_000
    assert (flipped["game_id"] == original["game_id"]).all()
    assert (flipped["target_line"] == -original["target_line"]).all()
    scores = flipped.join(training_data.labels, on="game_id", how="left", maintain_order="left")
    assert (scores["home_score"] - scores["away_score"] == flipped[MARGIN]).all()
    covered = (flipped[MARGIN] + flipped["target_line"] > 0).cast(pl.Float64)
    assert (flipped["y"] == covered).all()
    assert flipped["market_open"].null_count() == flipped["market_close"].null_count() == flipped.height
    assert handicap_rows(training_data.labelled("total")).height == training_data.labelled("total").height
