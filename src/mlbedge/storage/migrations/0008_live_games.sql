-- Live games (MLB Stats API schedule) join the unified games: gamePk links snapshots to games.
ALTER TABLE curated.games ADD COLUMN game_pk bigint;
CREATE UNIQUE INDEX games_game_pk_idx ON curated.games (game_pk) WHERE game_pk IS NOT NULL;
