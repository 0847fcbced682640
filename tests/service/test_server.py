"""The listener of ``admon serve --workers N``: its connections must not wait on Nagle's algorithm."""

from __future__ import annotations

import asyncio
import socket

from admon.service.server import listening_socket


def test_accepted_connections_get_tcp_nodelay():
    # uvicorn's own bind leaves proto=0, and asyncio then leaves Nagle on: each keep-alive
    # response waited ~40 ms for the client's delayed ACK (uvicorn issue #3149).
    async def main() -> int:
        sock = listening_socket("127.0.0.1", 0)
        seen: asyncio.Future = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport):
                accepted = transport.get_extra_info("socket")
                seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        try:
            return await asyncio.wait_for(seen, 5)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(main()) != 0
