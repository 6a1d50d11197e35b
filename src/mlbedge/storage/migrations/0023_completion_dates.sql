-- A suspended game's result is known only on the date it was completed: Retrosheet's completion
-- field gives that date, and the linked game carries it (null for a game finished on its date).
ALTER TABLE staging.retrosheet_games ADD COLUMN IF NOT EXISTS completion_date date;
ALTER TABLE curated.games ADD COLUMN IF NOT EXISTS completion_date date;
