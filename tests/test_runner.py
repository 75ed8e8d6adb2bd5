"""Running the service: the shared socket of multi-worker mode keeps TCP_NODELAY."""

from __future__ import annotations

import socket

import pytest

from genrec.config import ConfigError
from genrec.serving.runner import tcp_socket


def test_accepted_connections_get_tcp_nodelay_from_asyncio():
    # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; accepted sockets
    # inherit proto from the listener (uvicorn issue 3149).
    sock = tcp_socket("127.0.0.1", 0)
    try:
        sock.listen()
        client = socket.create_connection(sock.getsockname())
        accepted, _ = sock.accept()
        assert sock.proto == socket.IPPROTO_TCP
        assert accepted.proto == socket.IPPROTO_TCP
        assert sock.get_inheritable()
        accepted.close()
        client.close()
    finally:
        sock.close()


def test_a_port_in_use_is_a_clear_error():
    taken = tcp_socket("127.0.0.1", 0)
    taken.listen()
    try:
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
            tcp_socket("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
