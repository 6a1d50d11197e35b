"""The prediction API (FastAPI): predictions, Kelly recommendations, model hot reload, metrics.

:func:`mlbedge.serving.app.create_app` builds the app; ``mlbedge serve`` runs it under uvicorn.
"""
