-- The daily pipeline (mlbedge.pipeline): one row per run and one per step attempt, and what the
-- predict, recommend and settle steps produced. Outputs are keyed by game and market (and side),
-- so running a day twice rewrites the same rows with the same values: nothing changes.
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE ops.pipeline_runs (
    run_id      uuid PRIMARY KEY,
    run_date    date NOT NULL,                      -- the MLB day the run is for
    trigger     text NOT NULL,                      -- cli, schedule, demo, test
    status      text NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed')),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX pipeline_runs_date_idx ON ops.pipeline_runs (run_date, started_at);

CREATE TABLE ops.pipeline_steps (
    run_id      uuid NOT NULL REFERENCES ops.pipeline_runs ON DELETE CASCADE,
    step        text NOT NULL,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    status      text NOT NULL CHECK (status IN ('ok', 'failed', 'skipped')),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    seconds     double precision NOT NULL,
    counts      jsonb NOT NULL DEFAULT '{}',
    detail      text NOT NULL DEFAULT '',          -- the error or the reason for a skip
    PRIMARY KEY (run_id, step, attempt)
);

CREATE TABLE ops.predictions (
    game_id            text NOT NULL,
    market             text NOT NULL,
    date               date NOT NULL,
    as_of              timestamptz NOT NULL,
    model_name         text NOT NULL,
    model_version      text NOT NULL,
    line               double precision,
    probability        double precision NOT NULL,   -- side A: home, over, home covers
    market_probability double precision,
    PRIMARY KEY (game_id, market)
);
CREATE INDEX predictions_date_idx ON ops.predictions (date);

CREATE TABLE ops.recommended_bets (
    game_id     text NOT NULL,
    market      text NOT NULL,
    side        text NOT NULL,
    date        date NOT NULL,
    book        text NOT NULL,
    line        double precision,                   -- the total, or the home handicap (runline)
    odds        integer NOT NULL,
    probability double precision NOT NULL,
    edge        double precision NOT NULL,
    stake       double precision NOT NULL,
    bankroll    double precision NOT NULL,
    as_of       timestamptz NOT NULL,
    observed_at timestamptz NOT NULL,
    result      text CHECK (result IN ('win', 'loss', 'push', 'void')),
    profit      double precision,
    PRIMARY KEY (game_id, market, side)
);
CREATE INDEX recommended_bets_date_idx ON ops.recommended_bets (date);
