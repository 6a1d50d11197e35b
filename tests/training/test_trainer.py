"""The estimator on real games: scikit-learn's contract, the market base score, out-of-fold calibration."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone

from mlbedge.training.artifact import ServingModel
from mlbedge.training.calibration import choose_calibrator
from mlbedge.training.targets import get_target, model_columns
from mlbedge.training.trainer import MarketModel, fit_target
from tests.training.conftest import FAST


@pytest.fixture(scope="module")
def moneyline(training_data) -> pl.DataFrame:
    """Labelled moneyline games of 2012-2015, sorted by date."""
    frame = training_data.labelled("moneyline").filter(pl.col("season").is_between(2012, 2015))
    return frame.filter(pl.col("y").is_not_null()).sort("date", "game_id")


@pytest.fixture(scope="module")
def columns(training_data) -> list[str]:
    return model_columns(training_data.feature_names, "moneyline")


@pytest.fixture(scope="module")
def fitted(moneyline, columns) -> MarketModel:
    train = moneyline.filter(pl.col("season") <= 2014)
    model = MarketModel.for_target(get_target("moneyline"), **FAST)
    return model.fit(train.select(columns), train["y"].to_numpy(), dates=train["date"].to_numpy())


def test_estimator_contract(fitted, moneyline, columns) -> None:
    params = fitted.get_params()
    assert params["objective"] == "binary" and params["market_feature"] == "ml_home_prob"
    assert params["num_boost_round"] == FAST["num_boost_round"]
    twin = clone(fitted)
    assert twin.get_params() == params
    assert not hasattr(twin, "booster_")
    with pytest.raises(RuntimeError, match="not fitted"):
        twin.predict_proba(moneyline.select(columns))
    assert twin.set_params(num_leaves=3) is twin and twin.num_leaves == 3
    learnt = [k for k in vars(fitted) if k not in params]
    assert learnt and all(k.endswith("_") for k in learnt), learnt
    proba = fitted.predict_proba(moneyline.select(columns).head(50))
    assert proba.shape == (50, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(fitted.predict(moneyline.select(columns).head(50)))) <= {0.0, 1.0}


def test_fit_refuses_unsorted_rows_and_bad_labels(moneyline, columns) -> None:
    rows = moneyline.head(3000)
    model = MarketModel(**FAST)
    with pytest.raises(ValueError, match="sorted by date"):
        model.fit(rows.select(columns), rows["y"].to_numpy(), dates=rows["date"].to_numpy()[::-1])
    with pytest.raises(ValueError, match="0 and 1"):
        model.fit(rows.select(columns), rows["y"].to_numpy() * 2, dates=rows["date"].to_numpy())
    with pytest.raises(ValueError, match="market_feature 'nope'"):
        MarketModel(use_init_score=True, market_feature="nope", **FAST).fit(
            rows.select(columns), rows["y"].to_numpy(), dates=rows["date"].to_numpy()
        )


def test_market_probability_is_the_base_score(moneyline, columns) -> None:
    """With the market as init score and (almost) no learning, the model returns the market's price;
    where the market is missing it falls back to the training base rate."""
    train = moneyline.filter(pl.col("season") <= 2014)
    test = moneyline.filter(pl.col("season") == 2015)
    model = MarketModel.for_target(
        get_target("moneyline"), num_boost_round=1, learning_rate=1e-6, calibration="none", num_threads=1
    ).fit(train.select(columns), train["y"].to_numpy(), dates=train["date"].to_numpy())
    market = test["ml_home_prob"].to_numpy()
    p = model.predict_proba(test.select(columns))[:, 1]
    ok = np.isfinite(market)
    assert np.max(np.abs(p[ok] - market[ok])) < 1e-4
    missing = test.head(5).with_columns(ml_home_prob=pl.lit(None, pl.Float64))
    base_rate = train["y"].mean()
    assert np.allclose(model.predict_proba(missing.select(columns))[:, 1], base_rate, atol=1e-4)
    # Without the base score the same booster knows nothing of the market price.
    plain = MarketModel(num_boost_round=1, learning_rate=1e-6, calibration="none", num_threads=1).fit(
        train.select(columns), train["y"].to_numpy(), dates=train["date"].to_numpy()
    )
    assert np.ptp(plain.predict_proba(test.select(columns))[:, 1]) < 1e-4


def test_calibration_is_fitted_out_of_fold(fitted, moneyline, columns) -> None:
    """Rule: the calibrator is learnt only from predictions of rows each fold model never saw.

    Every out-of-fold block is later than everything its model trained on, and rebuilding the
    calibrator from fresh models trained on the seen rows alone gives exactly the fitted one.
    """
    train = moneyline.filter(pl.col("season") <= 2014)
    dates = train["date"].to_numpy()
    y = train["y"].to_numpy()
    assert len(fitted.oof_folds_) == fitted.calibration_folds
    predicted_all = []
    oof = []
    for seen, predicted in fitted.oof_folds_:
        assert not set(seen.tolist()) & set(predicted.tolist())
        assert dates[seen].max() < dates[predicted].min()
        predicted_all.append(predicted)
        fold_model = clone(fitted).set_params(calibration_folds=0)
        fold_model.fit(train.select(columns)[seen], y[seen], dates=dates[seen])
        oof.append(fold_model.predict_raw(train.select(columns)[predicted]))
    assert np.array_equal(np.concatenate(predicted_all), fitted.calibration_index_)
    # The rows of the first block are never calibration rows: no model predicted them out of fold.
    assert fitted.calibration_index_.min() > 0
    rebuilt = choose_calibrator(np.concatenate(oof), y[fitted.calibration_index_])
    assert rebuilt.calibrator.method == fitted.calibrator_.method
    for key, value in rebuilt.calibrator.params.items():
        assert np.allclose(value, fitted.calibrator_.params[key]), key
    report = fitted.calibration_report_
    assert {"oof_log_loss_raw", "cal_valid_log_loss_none", "cal_valid_ece_raw", "oof_fold1_log_loss"} <= set(
        report
    )
    assert 0.6 < report["oof_log_loss_raw"] < 0.72


def test_serving_model_round_trip(fitted, moneyline, columns, tmp_path) -> None:
    test = moneyline.filter(pl.col("season") == 2015)
    expected = fitted.predict_proba(test.select(columns))[:, 1]
    loaded = ServingModel.load(fitted.to_serving({"note": "x"}).save(tmp_path / "m"))
    x = test.select(columns).select(pl.all().cast(pl.Float64)).to_numpy()
    assert np.array_equal(loaded.predict_many(x), expected)
    assert loaded.predict(x[7]) == expected[7]
    assert loaded.meta == {"note": "x"}
    with pytest.raises(ValueError, match="expects"):
        loaded.predict(x[0, :-1])


def test_regression_targets_fit_runs(training_data) -> None:
    target = get_target("total_runs")
    frame = training_data.labelled(target).filter(pl.col("season").is_between(2013, 2014))
    trained = fit_target(
        frame, target, training_data.feature_names, training_data.feature_set_version, **FAST
    )
    # No calibration, and no out-of-fold fits: no bet rests on a plain regression.
    assert trained.model.calibrator_.method == "none" and trained.model.oof_folds_ == []
    assert trained.oof_record().is_empty()
    # Asked for (a move model's default), a record: each later block predicted by a model of the earlier ones.
    trained = fit_target(
        frame,
        target,
        training_data.feature_names,
        training_data.feature_set_version,
        regression_record=True,
        **FAST,
    )
    assert len(trained.model.oof_folds_) == trained.model.calibration_folds
    assert {"oof_rmse", "oof_r2"} <= set(trained.model.calibration_report_)
    record = trained.oof_record()
    assert record.height == trained.model.calibration_index_.size > 1000
    assert record["p_model"].is_finite().all() and record["p_market"].is_null().all()
    assert 6.0 < record["p_model"].mean() < 11.0  # type: ignore[operator]
    predicted = trained.model.predict(
        frame.filter(pl.col("y").is_not_null()).select(trained.model.feature_names_in_)
    )
    assert 6.0 < float(np.mean(predicted)) < 11.0
    assert "target_line" in trained.model.feature_names_in_
    with pytest.raises(ValueError, match="binary targets"):
        trained.model.predict_proba(frame.select(trained.model.feature_names_in_))


def test_runline_model_prices_the_quoted_handicap(training_data) -> None:
    """Home +1.5 (lose by one at most) is priced above home -1.5 (win by two) for every game, by
    about the share of one-run games: the model knows which side gets -1.5."""
    target = get_target("runline")
    frame = training_data.labelled(target)
    trained = fit_target(
        frame.filter(pl.col("season").is_between(2013, 2014)),
        target,
        training_data.feature_names,
        training_data.feature_set_version,
        **FAST,
    )
    test = frame.filter((pl.col("season") == 2015) & pl.col("target_line").is_not_null())
    columns = trained.model.feature_names_in_
    plus = trained.model.predict_proba(test.with_columns(target_line=pl.lit(1.5)).select(columns))[:, 1]
    minus = trained.model.predict_proba(test.with_columns(target_line=pl.lit(-1.5)).select(columns))[:, 1]
    assert (plus > minus).all()
    assert 0.15 < float(np.mean(plus - minus)) < 0.45
    # Scored where labelled: at the favourite's line the model still matches its own label rate.
    labelled = test.filter(pl.col("y").is_not_null())
    at_line = trained.model.predict_proba(labelled.select(columns))[:, 1]
    assert abs(float(np.mean(at_line)) - float(labelled["y"].mean())) < 0.05


def test_boosters_fitted_side_by_side_give_the_same_model(moneyline, columns) -> None:
    """The out-of-fold boosters and the final one are fitted on several threads at once: the model,
    its out-of-fold record and its calibration are bit for bit those of one booster at a time."""
    train = moneyline.filter(pl.col("season") <= 2014)
    x, y, dates = train.select(columns), train["y"].to_numpy(), train["date"].to_numpy()
    target = get_target("moneyline")
    alone = MarketModel.for_target(target, **{**FAST, "n_jobs": 1}).fit(x, y, dates=dates)
    together = MarketModel.for_target(target, **{**FAST, "n_jobs": 3}).fit(x, y, dates=dates)
    assert together._workers() == 3 and alone._workers() == 1
    assert together.booster_.model_to_string() == alone.booster_.model_to_string()
    assert np.array_equal(together.oof_probability_, alone.oof_probability_)
    assert [(s.tolist(), b.tolist()) for s, b in together.oof_folds_] == [
        (s.tolist(), b.tolist()) for s, b in alone.oof_folds_
    ]
    assert together.calibration_report_ == alone.calibration_report_
    assert np.array_equal(together.predict_proba(x)[:, 1], alone.predict_proba(x)[:, 1])
