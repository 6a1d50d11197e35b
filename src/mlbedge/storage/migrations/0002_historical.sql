-- Typed tables for the historical files, one per source, and the unified games they link into.

-- SBRO: one row per paired game (visitor row + home row). Prices are American odds; a price the
-- loader does not trust is kept but named in `flags` (comma-separated).
CREATE TABLE staging.sbro_games (
    season          integer NOT NULL,
    date            date    NOT NULL,
    away_team_id    integer NOT NULL,
    home_team_id    integer NOT NULL,
    dh_index        smallint NOT NULL,  -- 0 single game; 1, 2 = order within the file (unreliable)
    file_sha256     text    NOT NULL,
    file_row        integer NOT NULL,  -- 1-based data row of the visitor row in the file
    rot_away        integer,
    rot_home        integer,
    neutral_site    boolean NOT NULL DEFAULT false,
    away_code       text    NOT NULL,
    home_code       text    NOT NULL,
    away_pitcher    text,
    home_pitcher    text,
    away_pitcher_hand text,
    home_pitcher_hand text,
    away_innings    text,   -- "1,0,0,..." innings 1-9 as in the file (x = did not bat)
    home_innings    text,
    away_score      integer,
    home_score      integer,
    away_ml_open    integer,
    home_ml_open    integer,
    away_ml_close   integer,
    home_ml_close   integer,
    away_rl         numeric(4,1),
    away_rl_odds    integer,
    home_rl         numeric(4,1),
    home_rl_odds    integer,
    total_open      numeric(4,1),
    over_odds_open  integer,
    under_odds_open integer,
    total_close     numeric(4,1),
    over_odds_close integer,
    under_odds_close integer,
    game_type       char(1) NOT NULL,  -- R regular season, P postseason
    flags           text    NOT NULL DEFAULT '',
    PRIMARY KEY (season, date, away_team_id, home_team_id, dh_index)
);

-- Pinnacle 2016 games, start times corrected (+3 h upstream shift removed).
CREATE TABLE staging.pinnacle_games (
    pin_game_no       integer PRIMARY KEY,
    game_date_et      date    NOT NULL,
    start_time_utc    timestamptz NOT NULL,
    start_time_raw_utc timestamptz,
    away_team_id      integer,  -- null only for the All-Star game
    home_team_id      integer,
    doubleheader_game smallint NOT NULL DEFAULT 0,
    away_pitcher      text,
    home_pitcher      text,
    away_score        integer,
    home_score        integer,
    is_all_star       boolean NOT NULL DEFAULT false,
    flags             text NOT NULL DEFAULT ''
);

-- Pinnacle line snapshots, one row per (game, time); observed_at = the snapshot's own time.
CREATE TABLE staging.pinnacle_lines (
    pin_game_no     integer NOT NULL,
    observed_at     timestamptz NOT NULL,
    away_rl         numeric(4,1),
    away_rl_odds    integer,
    home_rl_odds    integer,
    away_ml         integer,
    home_ml         integer,
    total           numeric(4,1),
    over_odds       integer,
    under_odds      integer,
    flags           text NOT NULL DEFAULT '',
    PRIMARY KEY (pin_game_no, observed_at)
);

-- Retrosheet game logs (regular season), the fields the product uses, typed.
CREATE TABLE staging.retrosheet_games (
    date            date    NOT NULL,
    home_team_id    integer NOT NULL,
    game_num        smallint NOT NULL,  -- 0 single, 1/2 doubleheader
    away_team_id    integer NOT NULL,
    away_code       text    NOT NULL,
    home_code       text    NOT NULL,
    day_of_week     text,
    day_night       char(1),
    park_id         text,
    attendance      integer,
    length_outs     integer,
    length_minutes  integer,
    away_score      integer NOT NULL,
    home_score      integer NOT NULL,
    away_line_score text,
    home_line_score text,
    away_starter_id   text,
    away_starter_name text,
    home_starter_id   text,
    home_starter_name text,
    stats           jsonb NOT NULL DEFAULT '{}',  -- per-team batting/pitching/fielding totals
    file_sha256     text NOT NULL,
    file_row        integer NOT NULL,
    PRIMARY KEY (date, home_team_id, game_num)
);
