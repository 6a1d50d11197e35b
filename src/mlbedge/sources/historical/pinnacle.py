"""pinnacle loader (in progress)."""
