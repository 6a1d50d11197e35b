"""Feast integration (optional: ``pip install 'mlbedge[feast]'``).

:mod:`mlbedge.store.feast.repo` generates a Feast feature repository from the feature registry
(entity ``game``, one feature view per family, the Parquet export as the offline source, the same
Redis as the online store) and imports nothing of Feast. :mod:`mlbedge.store.feast.ops` applies and
materializes it and reads it back; it imports Feast when called, with a clear error when Feast is
not installed. Feast lives in its own virtual environment (``make feast-test``) because it pins
older redis-py and pandas than mlbedge's default install.
"""

from mlbedge.store.feast.repo import FeastRepo, feast_connection_string, generate_repo

__all__ = ["FeastRepo", "feast_connection_string", "generate_repo"]
