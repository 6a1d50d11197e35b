"""Loaders for the historical files: SBRO odds, Pinnacle 2016 line history, Retrosheet game logs."""
