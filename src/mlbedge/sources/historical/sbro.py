"""sbro loader (in progress)."""
