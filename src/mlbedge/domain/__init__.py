"""The vocabulary of mlbedge: teams, odds, games. Imports nothing else of ours."""
