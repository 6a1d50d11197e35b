"""The API's routes, one module per area: health, games, predictions, recommendations, models, admin."""
