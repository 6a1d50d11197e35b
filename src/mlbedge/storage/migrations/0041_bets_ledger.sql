-- The ledger of bets a person actually placed (``mlbedge bets``, ``/v1/bets``). ``line`` is the
-- line of the side bet on, as offered (ATL +1.5 on a run line is side away, line 1.5; null on a
-- moneyline). Settlement and closing-line value are filled once the game has a result; a bet is
-- settled once (``result`` stays as written). The same bet entered twice is refused by the key.
CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TABLE ledger.bets (
    bet_id            bigserial PRIMARY KEY,
    game_id           text NOT NULL,
    market            text NOT NULL CHECK (market IN ('moneyline', 'total', 'runline')),
    side              text NOT NULL CHECK (side IN ('home', 'away', 'over', 'under')),
    line              double precision,
    odds              integer NOT NULL CHECK (odds <= -100 OR odds >= 100),
    stake             double precision NOT NULL CHECK (stake > 0),
    book              text NOT NULL DEFAULT '',
    placed_at         timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    source            text NOT NULL DEFAULT 'cli',     -- cli or api
    result            text CHECK (result IN ('win', 'loss', 'push', 'void')),
    profit            double precision,
    settled_at        timestamptz,
    close_book        text,
    close_probability double precision,
    clv               double precision,
    CHECK ((result IS NULL) = (profit IS NULL))
);
CREATE UNIQUE INDEX bets_same_bet_idx ON ledger.bets (game_id, market, side, line, odds, stake, book)
    NULLS NOT DISTINCT;
CREATE INDEX bets_placed_idx ON ledger.bets (placed_at);
CREATE INDEX bets_open_idx ON ledger.bets (game_id) WHERE result IS NULL;
