-- Live sources (MLB Stats API, Action Network, VSIN, SBD): raw responses first, then typed
-- snapshots, each with the time it was observed (observed_at) and whether it is pre-game.

-- Each distinct response body once, by SHA-256 of its bytes.
CREATE TABLE raw.payload_bodies (
    content_hash  text PRIMARY KEY,
    body          bytea   NOT NULL,
    size_bytes    integer NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now()
);

-- One row per request made, success or failure, so the time of every fetch survives even when
-- the body repeats. The id is made by the client: a fetch spooled while the database was away
-- is flushed later without duplicates. parse_status: pending (not parsed yet), parsed, partial
-- (some items quarantined), failed (nothing usable: see parse_error), skipped (no body to parse).
CREATE TABLE raw.fetches (
    fetch_id     uuid PRIMARY KEY,
    source       text NOT NULL,
    endpoint     text NOT NULL,
    url          text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    context      jsonb NOT NULL DEFAULT '{}',  -- facts the client knew that the payload lacks
    fetched_at   timestamptz NOT NULL,
    http_status  integer,
    content_hash text REFERENCES raw.payload_bodies (content_hash),
    content_type text,
    attempts     integer NOT NULL DEFAULT 1,
    elapsed_ms   integer,
    fetch_error  text,
    parse_status text NOT NULL DEFAULT 'pending'
        CHECK (parse_status IN ('pending', 'parsed', 'partial', 'failed', 'skipped')),
    parse_error  text,
    parsed_at    timestamptz
);
CREATE INDEX fetches_source_time_idx ON raw.fetches (source, fetched_at);
CREATE INDEX fetches_pending_idx ON raw.fetches (fetched_at) WHERE parse_status = 'pending';

-- A game as one source names it, and its link to the MLB gamePk (null until matched).
CREATE TABLE staging.source_games (
    source          text NOT NULL,
    source_game_key text NOT NULL,         -- AN event id, SBD match id / feed _id, VSIN game code
    game_date       date,                  -- the source's local game date, where it gives one
    start_time      timestamptz,           -- first pitch per the source, where it gives one
    away_team_id    integer NOT NULL,      -- MLB team ids
    home_team_id    integer NOT NULL,
    seq             integer,               -- the source's order of the day (VSIN code sequence)
    status          text,
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    last_fetch_id   uuid NOT NULL,
    game_pk         bigint,
    match_status    text NOT NULL DEFAULT 'pending'
        CHECK (match_status IN ('pending', 'matched', 'unmatched', 'ambiguous')),
    match_note      text,
    matched_at      timestamptz,
    PRIMARY KEY (source, source_game_key)
);
CREATE INDEX source_games_game_pk_idx ON staging.source_games (game_pk);

-- Prices as observed. in_play: not a pre-game observation (a live market, or the game had
-- started when it was observed); such rows are kept for the record and never used as features.
CREATE TABLE staging.odds_quotes (
    source          text NOT NULL,
    source_game_key text NOT NULL,
    game_pk         bigint,
    book            text NOT NULL,
    market          text NOT NULL CHECK (market IN ('moneyline', 'total', 'runline')),
    side            text NOT NULL CHECK (side IN ('home', 'away', 'over', 'under')),
    line            numeric(5,1),
    price           integer CHECK (price IS NULL OR price <= -100 OR price >= 100),
    is_opening      boolean NOT NULL DEFAULT false,
    is_live         boolean NOT NULL DEFAULT false,  -- the source's own live-market flag
    in_play         boolean NOT NULL,
    observed_at     timestamptz NOT NULL,
    fetch_id        uuid NOT NULL REFERENCES raw.fetches (fetch_id),
    CHECK (price IS NOT NULL OR line IS NOT NULL),
    PRIMARY KEY (source, source_game_key, book, market, side, is_opening, is_live, observed_at)
);
CREATE INDEX odds_quotes_game_idx ON staging.odds_quotes (game_pk, observed_at);
CREATE INDEX odds_quotes_fetch_idx ON staging.odds_quotes (fetch_id);

-- Public betting splits: share of bets (tickets) and of money (handle), per market side.
CREATE TABLE staging.splits (
    source          text NOT NULL,
    source_game_key text NOT NULL,
    game_pk         bigint,
    book            text NOT NULL,
    market          text NOT NULL CHECK (market IN ('moneyline', 'total', 'runline')),
    side            text NOT NULL CHECK (side IN ('home', 'away', 'over', 'under')),
    bets_pct        numeric(5,2) CHECK (bets_pct BETWEEN 0 AND 100),
    money_pct       numeric(5,2) CHECK (money_pct BETWEEN 0 AND 100),
    bet_count       bigint,
    in_play         boolean NOT NULL,
    observed_at     timestamptz NOT NULL,
    fetch_id        uuid NOT NULL REFERENCES raw.fetches (fetch_id),
    PRIMARY KEY (source, source_game_key, book, market, side, observed_at)
);
CREATE INDEX splits_game_idx ON staging.splits (game_pk, observed_at);
CREATE INDEX splits_fetch_idx ON staging.splits (fetch_id);

-- The MLB schedule as observed (origin: schedule or feed_live), one row per game per observation.
CREATE TABLE staging.schedule (
    game_pk           bigint NOT NULL,
    origin            text NOT NULL,
    observed_at       timestamptz NOT NULL,
    official_date     date NOT NULL,
    game_date         timestamptz NOT NULL,  -- scheduled first pitch, UTC
    game_type         text,
    season            integer,
    abstract_state    text,
    coded_state       text,
    detailed_state    text,
    status_code       text,
    start_time_tbd    boolean NOT NULL DEFAULT false,
    double_header     text,
    game_number       integer,
    away_team_id      integer NOT NULL,
    home_team_id      integer NOT NULL,
    venue_id          integer,
    venue_name        text,
    day_night         text,
    scheduled_innings integer,
    reschedule_game_date timestamptz,
    weather_condition text,
    weather_temp      integer,
    weather_wind      text,
    in_play           boolean NOT NULL,
    fetch_id          uuid NOT NULL REFERENCES raw.fetches (fetch_id),
    PRIMARY KEY (game_pk, origin, observed_at)
);
CREATE INDEX schedule_date_idx ON staging.schedule (official_date);
CREATE INDEX schedule_fetch_idx ON staging.schedule (fetch_id);

-- Probable pitchers as listed at observed_at; a null pitcher means none announced.
CREATE TABLE staging.probable_pitchers (
    game_pk      bigint NOT NULL,
    side         text NOT NULL CHECK (side IN ('home', 'away')),
    origin       text NOT NULL,
    observed_at  timestamptz NOT NULL,
    pitcher_id   bigint,
    pitcher_name text,
    pitch_hand   text,
    in_play      boolean NOT NULL,
    fetch_id     uuid NOT NULL REFERENCES raw.fetches (fetch_id),
    PRIMARY KEY (game_pk, side, origin, observed_at)
);
CREATE INDEX probable_pitchers_fetch_idx ON staging.probable_pitchers (fetch_id);

-- Scores and what happened: LABELS ONLY, never features (whenever they were observed).
CREATE TABLE staging.results (
    game_pk            bigint NOT NULL,
    origin             text NOT NULL,
    observed_at        timestamptz NOT NULL,
    away_score         integer,
    home_score         integer,
    is_final           boolean NOT NULL,
    detailed_state     text,
    innings            integer,
    away_starter_id    bigint,   -- who actually started (feed), a label like the score
    home_starter_id    bigint,
    winning_pitcher_id bigint,
    losing_pitcher_id  bigint,
    fetch_id           uuid NOT NULL REFERENCES raw.fetches (fetch_id),
    PRIMARY KEY (game_pk, origin, observed_at)
);
CREATE INDEX results_fetch_idx ON staging.results (fetch_id);

-- Standings as the API gave them, through through_date (the date= asked for) when given.
CREATE TABLE staging.standings (
    season          integer NOT NULL,
    standings_type  text NOT NULL,
    team_id         integer NOT NULL,
    observed_at     timestamptz NOT NULL,
    through_date    date,
    league_id       integer,
    division_id     integer,
    wins            integer NOT NULL,
    losses          integer NOT NULL,
    runs_scored     integer,
    runs_allowed    integer,
    games_back      text,
    wild_card_games_back text,
    division_rank   integer,
    streak_code     text,
    home_wins       integer,
    home_losses     integer,
    away_wins       integer,
    away_losses     integer,
    last_ten_wins   integer,
    last_ten_losses integer,
    last_updated    timestamptz,
    fetch_id        uuid NOT NULL REFERENCES raw.fetches (fetch_id),
    PRIMARY KEY (season, standings_type, team_id, observed_at)
);
CREATE INDEX standings_fetch_idx ON staging.standings (fetch_id);

-- The clubs as MLB names them at observed_at.
CREATE TABLE staging.mlb_teams (
    team_id       integer NOT NULL,
    observed_at   timestamptz NOT NULL,
    abbreviation  text,
    name          text,
    team_name     text,
    location_name text,
    league_id     integer,
    division_id   integer,
    venue_id      integer,
    active        boolean,
    fetch_id      uuid NOT NULL REFERENCES raw.fetches (fetch_id),
    PRIMARY KEY (team_id, observed_at)
);

-- Parts of a payload that could not be used (a game with an unknown team code, a price that is
-- no price): kept with the fetch they came from and the reason. The rest of the payload loads.
CREATE TABLE staging.payload_quarantine (
    fetch_id       uuid NOT NULL REFERENCES raw.fetches (fetch_id),
    item_key       text NOT NULL,
    reason         text NOT NULL,
    raw_item       text NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fetch_id, item_key, reason)
);

-- Pre-game facts only: what features may ever read from these tables.
CREATE VIEW staging.pregame_odds_quotes AS SELECT * FROM staging.odds_quotes WHERE NOT in_play;
CREATE VIEW staging.pregame_splits AS SELECT * FROM staging.splits WHERE NOT in_play;
CREATE VIEW staging.pregame_probable_pitchers AS
    SELECT * FROM staging.probable_pitchers WHERE NOT in_play;
