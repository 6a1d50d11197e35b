-- Monitoring (mlbedge.monitoring): the drift bins fixed at training time, and the alerts raised.
CREATE SCHEMA IF NOT EXISTS monitoring;

-- The bins of each feature, fixed once from a training window and never recomputed: the PSI of
-- every later window is measured against the same cut points. Bins are right-closed,
-- (-inf, e1], (e1, e2], ..., (ek, inf), then one bin for nulls; `expected` holds the training
-- share of each (len(edges) + 2 values, the null bin last).
CREATE TABLE monitoring.drift_baselines (
    baseline_id         text NOT NULL,             -- e.g. mlbedge-moneyline@v3, or fs-...:2015-04-05..2019-09-29
    feature             text NOT NULL,
    edges               double precision[] NOT NULL,
    expected            double precision[] NOT NULL,
    n_rows              integer NOT NULL,
    feature_set_version text,
    window_start        date,
    window_end          date,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (baseline_id, feature),
    CHECK (cardinality(expected) = cardinality(edges) + 2)
);

-- One row per (kind, subject, window): running a check twice on the same window changes nothing
-- but the evidence. An alert is open until resolved: `cleared` (the check passed again),
-- `superseded` (a newer window of the same kind and subject raised its own alert) or `manual`.
CREATE TABLE monitoring.alerts (
    alert_id    bigserial PRIMARY KEY,
    kind        text NOT NULL,                     -- feature_drift, importance_drift, performance, clv, freshness
    subject     text NOT NULL,                     -- a feature, a target, a model, a source
    window_key  text NOT NULL,                     -- the window the check looked at
    severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message     text NOT NULL,
    evidence    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolution  text CHECK (resolution IN ('cleared', 'superseded', 'manual')),
    UNIQUE (kind, subject, window_key),
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE INDEX alerts_open_idx ON monitoring.alerts (kind, subject) WHERE resolved_at IS NULL;
CREATE INDEX alerts_created_idx ON monitoring.alerts (created_at);
