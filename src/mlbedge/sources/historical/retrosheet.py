"""retrosheet loader (in progress)."""
