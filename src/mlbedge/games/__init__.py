"""Unified games: historical sources linked into one record per game."""
