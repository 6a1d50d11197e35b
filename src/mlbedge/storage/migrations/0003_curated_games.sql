-- One record per game, linked across the historical sources. Rebuilt from staging by the link step.
CREATE TABLE curated.games (
    game_id           text PRIMARY KEY,      -- YYYYMMDD-AWY-HOM-N (MLB abbreviations, N = game_num)
    season            integer NOT NULL,
    date              date    NOT NULL,      -- local date of the game
    game_type         char(1) NOT NULL,      -- R regular season, P postseason
    game_num          smallint NOT NULL,     -- 0 single game, 1/2 doubleheader game
    home_team_id      integer NOT NULL,
    away_team_id      integer NOT NULL,
    home_team         text    NOT NULL,
    away_team         text    NOT NULL,
    start_time_utc    timestamptz,           -- scheduled first pitch where a source knows it
    day_night         char(1),
    home_score        integer,
    away_score        integer,
    home_starter      text,
    away_starter      text,
    home_starter_id   text,                  -- Retrosheet player id where linked
    away_starter_id   text,
    home_starter_hand char(1),
    away_starter_hand char(1),
    home_ml_open      integer,
    away_ml_open      integer,
    home_ml_close     integer,
    away_ml_close     integer,
    total_open        numeric(4,1),
    total_close       numeric(4,1),
    over_odds_open    integer,
    under_odds_open   integer,
    over_odds_close   integer,
    under_odds_close  integer,
    home_rl           numeric(4,1),
    home_rl_odds      integer,
    away_rl_odds      integer,
    in_sbro           boolean NOT NULL DEFAULT false,
    in_retrosheet     boolean NOT NULL DEFAULT false,
    in_pinnacle       boolean NOT NULL DEFAULT false,
    sbro_dh_index     smallint,
    pin_game_no       integer,
    flags             text    NOT NULL DEFAULT ''
);
CREATE INDEX games_season_idx ON curated.games (season, date);

-- Disagreements between sources found while linking (score, pitcher, a game one source lacks).
CREATE TABLE curated.link_mismatches (
    game_id   text NOT NULL,
    kind      text NOT NULL,
    detail    text NOT NULL,
    PRIMARY KEY (game_id, kind)
);
