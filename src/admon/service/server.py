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

import errno
import socket
from collections.abc import Callable

import uvicorn
from uvicorn.supervisors import Multiprocess

from admon.errors import ConfigError
from admon.service.app import create_app_from_env


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP listener whose accepted connections asyncio makes ``TCP_NODELAY``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)  # the worker processes inherit it
    return sock


def bound_socket(host: str, port: int) -> socket.socket:
    """:func:`listening_socket`, listening already (a client that connects at once waits in the
    backlog instead of being refused), or a :class:`ConfigError` saying why the address cannot be had."""
    try:
        sock = listening_socket(host, port)
        sock.listen(2048)  # uvicorn's default backlog
        return sock
    except OSError as exc:
        why = ("is in use by another program; stop it or pick another --port"
               if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror}); check --host and --port")
        raise ConfigError(f"{host}:{port} {why}") from None


def serve(*, host: str, port: int, workers: int = 1, log_level: str = "info",
          on_listening: Callable[[str, int], None] | None = None) -> None:
    """Serve :func:`admon.service.app.create_app_from_env` until interrupted.

    What ``admon serve`` runs; its options reach the worker processes through
    ``ADMON_SERVE_OPTIONS`` (see :data:`admon.service.app.SERVE_OPTIONS_ENV`). The port is bound
    first, and ``on_listening(host, port)`` told only then (port 0: the port the system chose).
    """
    app = create_app_from_env() if workers == 1 else None  # a bad setting fails before any announcement
    sock = bound_socket(host, port)
    if on_listening is not None:
        on_listening(host, sock.getsockname()[1])
    if app is not None:
        try:
            uvicorn.Server(uvicorn.Config(app, log_level=log_level)).run(sockets=[sock])
        finally:
            sock.close()
        return
    config = uvicorn.Config("admon.service.app:create_app_from_env", factory=True, host=host, port=port,
                            workers=workers, log_level=log_level)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
