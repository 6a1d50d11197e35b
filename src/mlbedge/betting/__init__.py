"""Betting: stake sizing (Kelly), settlement of bets from final scores, and the metrics a bettor reads."""
