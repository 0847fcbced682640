"""admon.service: the web service (REST API under /api, web UI, annotation tool).

Build the app with :func:`admon.service.app.create_app`; ``admon serve`` runs it
under uvicorn.
"""


def create_app(*args, **kwargs):
    """Shortcut for :func:`admon.service.app.create_app` (imported on first use)."""
    from admon.service.app import create_app as _create_app

    return _create_app(*args, **kwargs)
