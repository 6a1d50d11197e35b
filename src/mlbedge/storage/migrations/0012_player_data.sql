-- Player-level data: game-log lineups, umpires and completion; Lahman season tables; retrosplits
-- team games and pitcher platoon splits; the listed starters resolved to Retrosheet ids.
-- One player identity everywhere: the Retrosheet id (People.retroID, e.g. 'verlj001').

-- Game logs: everything else the log knows before (umpires, managers) and after (completion) a game.
ALTER TABLE staging.retrosheet_games
    ADD COLUMN completion      text,     -- field 14 as written: 'yyyymmdd,park,vs,hs,outs'
    ADD COLUMN completion_date date,     -- the date a suspended game was finished (its result known)
    ADD COLUMN completion_park_id text,
    ADD COLUMN forfeit         text,
    ADD COLUMN protest         text,
    ADD COLUMN ump_hp_id       text,
    ADD COLUMN ump_hp_name     text,
    ADD COLUMN ump_1b_id       text,
    ADD COLUMN ump_1b_name     text,
    ADD COLUMN ump_2b_id       text,
    ADD COLUMN ump_2b_name     text,
    ADD COLUMN ump_3b_id       text,
    ADD COLUMN ump_3b_name     text,
    ADD COLUMN ump_lf_id       text,
    ADD COLUMN ump_lf_name     text,
    ADD COLUMN ump_rf_id       text,
    ADD COLUMN ump_rf_name     text,
    ADD COLUMN away_manager_id text,
    ADD COLUMN home_manager_id text,
    ADD COLUMN additional_info text,
    ADD COLUMN htbf            boolean NOT NULL DEFAULT false;  -- 2020: the home team batted first

-- Starting lineups: one row per game x side x batting slot (1-9).
CREATE TABLE staging.retrosheet_lineups (
    date          date     NOT NULL,
    home_team_id  integer  NOT NULL,
    game_num      smallint NOT NULL,
    side          text     NOT NULL CHECK (side IN ('away', 'home')),
    batting_order smallint NOT NULL CHECK (batting_order BETWEEN 1 AND 9),
    team_id       integer  NOT NULL,
    player_id     text     NOT NULL,  -- Retrosheet id
    player_name   text,
    position      smallint NOT NULL,  -- 1-9 fielding position, 10 = designated hitter
    PRIMARY KEY (date, home_team_id, game_num, side, batting_order)
);
CREATE INDEX retrosheet_lineups_player_idx ON staging.retrosheet_lineups (player_id, date);

-- Lahman (season level; known only after the season). Column names are Lahman's in snake case.
CREATE TABLE staging.lahman_people (
    player_id   text PRIMARY KEY,
    retro_id    text,
    bbref_id    text,
    name_first  text,
    name_last   text,
    name_given  text,
    birth_year  integer,
    throws      text,
    bats        text,
    debut       date,
    final_game  date,  -- blank in the file when the last game is in 2020 or later
    file_sha256 text NOT NULL,
    file_row    integer NOT NULL
);
CREATE UNIQUE INDEX lahman_people_retro_idx ON staging.lahman_people (retro_id) WHERE retro_id IS NOT NULL;

CREATE TABLE staging.lahman_batting (
    player_id text NOT NULL, year_id integer NOT NULL, stint integer NOT NULL,
    team_id text NOT NULL, lg_id text,
    g integer, ab integer, r integer, h integer, x2b integer, x3b integer, hr integer, rbi integer,
    sb integer, cs integer, bb integer, so integer, ibb integer, hbp integer, sh integer, sf integer,
    gidp integer,
    file_sha256 text NOT NULL, file_row integer NOT NULL,
    PRIMARY KEY (player_id, year_id, stint)
);

CREATE TABLE staging.lahman_pitching (
    player_id text NOT NULL, year_id integer NOT NULL, stint integer NOT NULL,
    team_id text NOT NULL, lg_id text,
    w integer, l integer, g integer, gs integer, cg integer, sho integer, sv integer,
    ip_outs integer, h integer, er integer, hr integer, bb integer, so integer,
    ba_opp double precision, era double precision, ibb integer, wp integer, hbp integer, bk integer,
    bfp integer, gf integer, r integer, sh integer, sf integer, gidp integer,
    file_sha256 text NOT NULL, file_row integer NOT NULL,
    PRIMARY KEY (player_id, year_id, stint)
);

CREATE TABLE staging.lahman_teams (
    year_id integer NOT NULL, lg_id text, team_id text NOT NULL, franch_id text, div_id text,
    rank integer, g integer, g_home integer, w integer, l integer,
    div_win text, wc_win text, lg_win text, ws_win text,
    r integer, ab integer, h integer, x2b integer, x3b integer, hr integer, bb integer, so integer,
    sb integer, cs integer, hbp integer, sf integer, ra integer, er integer, era double precision,
    cg integer, sho integer, sv integer, ip_outs integer, ha integer, hra integer, bba integer,
    soa integer, e integer, dp integer, fp double precision,
    name text, park text, attendance integer, bpf integer, ppf integer,
    team_id_br text, team_id_lahman45 text, team_id_retro text,
    file_sha256 text NOT NULL, file_row integer NOT NULL,
    PRIMARY KEY (year_id, team_id)
);

-- retrosplits team games: one row per game x team. Totals from the box score ('box') where the
-- game has one (every regular-season game), else from the event file ('evt': postseason,
-- All-Star). b_pa, b_hr4, p_pitch and p_strike are taken from the 'evt' row when it has them
-- (box scores lack pitch counts). All stat columns are post-game totals.
CREATE TABLE staging.retrosplits_team_games (
    game_key       text     NOT NULL,  -- home-park team + yyyymmdd + number, as written
    team_key       text     NOT NULL,  -- Retrosheet team code (ALS/NLS for All-Star teams)
    season         integer  NOT NULL,
    game_date      date     NOT NULL,
    game_number    smallint NOT NULL,
    site_key       text,
    season_phase   text     NOT NULL,  -- R regular, A All-Star, F/D/L/W postseason rounds
    team_alignment smallint NOT NULL,  -- 0 visitor, 1 home
    opponent_key   text     NOT NULL,
    team_id        integer,            -- MLB id; null for the All-Star teams
    opponent_id    integer,
    totals_source  text     NOT NULL CHECK (totals_source IN ('box', 'evt')),
    r_g integer, r_w integer, r_l integer, r_t integer, b_g integer, b_pa integer, b_ab integer,
    b_r integer, b_h integer, b_tb integer, b_2b integer, b_3b integer, b_hr integer,
    b_hr4 integer, b_rbi integer, b_gw integer, b_bb integer, b_ibb integer, b_so integer,
    b_gdp integer, b_hp integer, b_sh integer, b_sf integer, b_sb integer, b_cs integer,
    b_xi integer, b_lob integer, p_g integer, p_gs integer, p_cg integer, p_sho integer,
    p_csho integer, p_gf integer, p_w integer, p_l integer, p_sv integer, p_out integer,
    p_tbf integer, p_ab integer, p_r integer, p_er integer, p_h integer, p_tb integer,
    p_2b integer, p_3b integer, p_hr integer, p_hr4 integer, p_bb integer, p_ibb integer,
    p_so integer, p_gdp integer, p_hp integer, p_sh integer, p_sf integer, p_xi integer,
    p_wp integer, p_bk integer, p_ir integer, p_irs integer, p_go integer, p_ao integer,
    p_pitch integer, p_strike integer, f_g integer, f_out integer, f_tc integer, f_po integer,
    f_a integer, f_e integer, f_dp integer, f_tp integer, f_pb integer,
    file_sha256 text NOT NULL,
    file_row    integer NOT NULL,
    PRIMARY KEY (game_key, team_key)
);
CREATE INDEX retrosplits_team_games_team_idx ON staging.retrosplits_team_games (team_id, game_date);

-- retrosplits pitcher platoon splits: season totals per pitcher x hands x phase.
CREATE TABLE staging.retrosplits_pitching_platoon (
    season       integer NOT NULL,
    phase        text    NOT NULL,  -- R regular season; D/L/W/F postseason rounds
    pitcher_id   text    NOT NULL,  -- Retrosheet id
    pitcher_hand text    NOT NULL,
    batter_hand  text    NOT NULL,
    b_pa integer, b_ab integer, b_h integer, b_tb integer, b_2b integer, b_3b integer,
    b_hr integer, b_hr4 integer, b_rbi integer, b_bb integer, b_ibb integer, b_so integer,
    b_gdp integer, b_hp integer, b_sh integer, b_sf integer, b_xi integer,
    file_sha256 text NOT NULL,
    file_row    integer NOT NULL,
    PRIMARY KEY (season, phase, pitcher_id, pitcher_hand, batter_hand)
);

-- Unified games: the listed (SBRO) starters as Retrosheet ids, and the game-log facts features
-- time by. home_starter_id/away_starter_id stay the pitcher who actually started.
ALTER TABLE curated.games
    ADD COLUMN home_listed_starter_id  text,
    ADD COLUMN away_listed_starter_id  text,
    ADD COLUMN home_listed_starter_via text,  -- game_starter | team_season | null (unresolved)
    ADD COLUMN away_listed_starter_via text,
    ADD COLUMN park_id                 text,
    ADD COLUMN plate_umpire_id         text,
    ADD COLUMN completion_date         date,  -- set for a suspended game: its result is known then
    ADD COLUMN htbf                    boolean NOT NULL DEFAULT false;
