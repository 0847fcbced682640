"""Routers of the service: ``api`` (JSON under /api) and ``ui`` (server-rendered pages)."""
