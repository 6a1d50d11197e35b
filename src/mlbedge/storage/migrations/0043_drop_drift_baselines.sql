-- Per-feature drift baselines stored by id were never read by the daily monitor, which bins each
-- feature family against the same part of the season in the training seasons instead
-- (mlbedge.monitoring.reference). The table goes with the code that wrote it.
DROP TABLE IF EXISTS monitoring.drift_baselines;
