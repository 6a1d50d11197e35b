"""Research runs above training and betting: season backtests and model comparisons on stored data.

- :mod:`mlbedge.research.seasons`: :func:`~mlbedge.research.seasons.run_season` (train, backtest,
  score one test season) and its record in MLflow.
- :mod:`mlbedge.research.forecasts`: the model's forecasts beside the market's, scored on the same games.
- :mod:`mlbedge.research.compare`: two registered models of one market compared end to end
  (forecasts, a backtest each, the promotion gate).
"""
