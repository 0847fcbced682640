"""Run the service under uvicorn, in one process or several, with Nagle's algorithm off.

``uvicorn.run(..., workers=N)`` binds the listening socket itself with ``proto=0``; the
sockets it accepts inherit that, and asyncio only sets ``TCP_NODELAY`` on a socket whose
``proto`` is ``IPPROTO_TCP``. So with ``--workers 2`` every response on a keep-alive
connection (headers and body are two writes) waited for the client's delayed ACK, ~40 ms
on Linux, even ``/healthz`` (uvicorn issue #3149). :func:`serve` binds the socket with
``IPPROTO_TCP`` and hands it to uvicorn's supervisor; one worker needs no such care
(asyncio binds from ``getaddrinfo``, which sets the protocol).

>>> sock = listening_socket("127.0.0.1", 0)
>>> sock.proto == socket.IPPROTO_TCP
True
>>> sock.close()
"""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

from admon.service.app import create_app_from_env


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP listener whose accepted connections asyncio makes ``TCP_NODELAY``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)  # the worker processes inherit it
    return sock


def serve(*, host: str, port: int, workers: int = 1, log_level: str = "info") -> None:
    """Serve :func:`admon.service.app.create_app_from_env` until interrupted.

    What ``admon serve`` runs; its options reach the worker processes through
    ``ADMON_SERVE_OPTIONS`` (see :data:`admon.service.app.SERVE_OPTIONS_ENV`).
    """
    if workers == 1:
        uvicorn.run(create_app_from_env(), host=host, port=port, log_level=log_level)
        return
    config = uvicorn.Config("admon.service.app:create_app_from_env", factory=True, host=host, port=port,
                            workers=workers, log_level=log_level)
    sock = listening_socket(host, port)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
