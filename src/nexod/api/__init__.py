"""HTTP API: thin FastAPI routers, one per resource, and the error → status mapping."""
