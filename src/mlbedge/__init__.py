"""mlbedge: MLB predictions against the betting market, with Kelly staking and honest backtests."""

__version__ = "0.1.0"
