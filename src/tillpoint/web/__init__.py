"""HTTP: the FastAPI app, one router per feature, error mapping, pages."""
