-- Recommended bets keep the line of the side bet on, as a bettor places it (ATL +1.5), no longer
-- the home handicap of the run line: stored away run-line bets are turned into their own line.
UPDATE ops.recommended_bets SET line = -line WHERE market = 'runline' AND side = 'away' AND line IS NOT NULL;
COMMENT ON COLUMN ops.recommended_bets.line IS
    'the line of the side bet on as offered: the total, or this side''s own run-line handicap; null for a moneyline';
