"""`bertner serve`: the Predictor behind a FastAPI app (app.py), its settings, micro-batching, body limits,
schema and page."""
