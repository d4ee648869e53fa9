"""The HTTP server's own socket: connections taken on it answer without Nagle's delay."""

from __future__ import annotations

import asyncio
import socket

from complaintbot.server import listening_socket


async def test_connections_on_the_listening_socket_send_without_waiting_for_acks() -> None:
    """With Nagle's algorithm on, a response written in two parts (headers, then body)
    on a kept-alive connection waits for the client's delayed acknowledgement, some
    40 ms per request; asyncio turns it off only on sockets that say they are TCP."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[int] = loop.create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    sock = listening_socket("127.0.0.1", 0)
    server = await loop.create_server(Probe, sock=sock)
    try:
        port = sock.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert await asyncio.wait_for(accepted, 10) != 0
        finally:
            writer.close()
    finally:
        server.close()
        await server.wait_closed()
