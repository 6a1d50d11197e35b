"""The move targets' training rows are built as of the open, from the real loaded seasons."""

from __future__ import annotations

import numpy as np
import polars as pl
import psycopg

from mlbedge.features.registry import registry
from mlbedge.training.dataset import load_training_data


def test_move_targets_train_on_features_built_at_the_open(features_db_url: str) -> None:
    """Games with a known start time (Pinnacle 2016) get their move inputs rebuilt as of the start
    of the local date: some previous-night results seen by the pre-game cutoff are not yet known
    then; the rows, their order and every untimed game stay as stored."""
    with psycopg.connect(features_db_url) as conn:
        data = load_training_data(conn, seasons=[2015, 2016], build=False, cutoff_minutes=60, open_time=True)
        timed = pl.read_database(
            "SELECT game_id FROM curated.games WHERE start_time_utc IS NOT NULL AND season = 2016", conn
        )["game_id"]
    assert data.open_features is not None and timed.len() > 1000
    assert data.open_features["game_id"].equals(data.features["game_id"])
    team = [f.name for f in registry() if f.sources == ("results",)]
    untimed = ~data.features["game_id"].is_in(timed.implode())
    assert data.open_features.filter(untimed).select(team).equals(data.features.filter(untimed).select(team))
    a = data.features.filter(~untimed).select(team).to_numpy()
    b = data.open_features.filter(~untimed).select(team).to_numpy()
    differ = ~((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)
    assert 0 < differ.sum() < differ.size
    labelled = data.labelled("close_moneyline")
    assert labelled["game_id"].equals(data.features["game_id"]) and labelled["y"].is_not_null().sum() > 4000
