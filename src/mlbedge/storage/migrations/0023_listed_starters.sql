-- The starting pitchers LISTED before the game by name (SBRO's, else Pinnacle's; a live game's
-- probable pitchers at the cutoff): the pre-game fact the features read. home/away_starter keep
-- the pitcher who actually threw the first pitch (Retrosheet's where linked) for labels and reports.
ALTER TABLE curated.games ADD COLUMN IF NOT EXISTS home_listed_starter text;
ALTER TABLE curated.games ADD COLUMN IF NOT EXISTS away_listed_starter text;
