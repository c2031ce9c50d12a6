"""HTTP API (FastAPI): create_app(settings), one router per resource; handlers call services only."""
