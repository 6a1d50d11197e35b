-- Point-in-time features, one row per game (mlbedge.features).
--
-- This migration creates the table with its key, cutoff and provenance columns only. The feature
-- columns themselves are driven by the feature registry: the pipeline adds any registry feature
-- missing here (ALTER TABLE ... ADD COLUMN IF NOT EXISTS, typed from the registry) before it
-- writes, so adding a feature needs no migration. Each row names the feature set it was built by.

-- Every feature set a build has written: the registry it was (names, types, sources) and the cutoff.
CREATE TABLE curated.feature_sets (
    version         text PRIMARY KEY,            -- hash of registry + code + package version + cutoff
    cutoff_minutes  integer NOT NULL,
    n_features      integer NOT NULL,
    registry        jsonb   NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE curated.game_features (
    game_id                 text PRIMARY KEY,    -- curated.games.game_id
    season                  integer NOT NULL,
    date                    date    NOT NULL,
    as_of                   timestamptz NOT NULL, -- the cutoff: nothing observed later is in the row
    start_known             boolean NOT NULL,     -- as_of from the start time (else start of local date)
    feature_set_version     text    NOT NULL,
    computed_at             timestamptz NOT NULL, -- a row computed before its as_of is not final
    src_team_observed_at    timestamptz,          -- newest fact each family read (all <= as_of)
    src_pitcher_observed_at timestamptz,
    src_market_observed_at  timestamptz,
    src_splits_observed_at  timestamptz,
    market_books            text,                 -- books behind the market features
    splits_books            text
);
CREATE INDEX game_features_season_idx ON curated.game_features (season, date);

-- Completeness per family at each quality run, so a drop can be flagged against the last run.
CREATE TABLE curated.feature_quality (
    run_at              timestamptz NOT NULL,
    feature_set_version text NOT NULL,
    family              text NOT NULL,
    season              integer NOT NULL,         -- 0 = all seasons together
    games               integer NOT NULL,
    completeness        double precision NOT NULL,
    PRIMARY KEY (run_at, family, season)
);
