"""TCP proxies on 127.0.0.1 that put a fault between a client and a server the test started: a reply
dropped after the server acted, a partition (replies swallowed), an upload cut in the middle. One
listener does the accepting and the closing; each proxy says only what it does to a connection."""

from __future__ import annotations

import socket
import threading
import time


class LoopbackProxy:
    """Listens on a free port; each client connection gets its own upstream connection to
    ``target_port`` and a thread running ``self.relay(client, upstream)``."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def relay(self, client: socket.socket, upstream: socket.socket) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:  # the server is down: the client sees its connection refused
                _hang_up(client)
                continue
            self._sockets += [client, upstream]
            threading.Thread(target=self._relay_then_close, args=(client, upstream), daemon=True).start()

    def _relay_then_close(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            self.relay(client, upstream)
        except OSError:
            pass
        finally:
            if self.closes_after_relay:
                _hang_up(client, upstream)

    #: Whether a connection ends when ``relay`` returns (a partition keeps its connections open).
    closes_after_relay = True

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        _hang_up(*self._sockets)


def _hang_up(*sockets: socket.socket) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def _forward(source: socket.socket, target: socket.socket, swallow=lambda: False) -> None:
    """Copy what ``source`` sends to ``target`` until it hangs up; ``swallow()`` true drops a chunk."""
    try:
        while chunk := source.recv(65536):
            if not swallow():
                target.sendall(chunk)
    except OSError:
        pass


class ReplyDroppingProxy(LoopbackProxy):
    """A proxy to Redis that drops the reply to the first command containing ``marker`` and closes that
    client connection, as a network fault after the server executed the command."""

    def __init__(self, target_port: int, marker: bytes):
        self.marker = marker
        self.dropped = 0
        self.dropped_replies: list[bytes] = []
        self._armed = True
        super().__init__(target_port)

    def relay(self, client: socket.socket, upstream: socket.socket) -> None:
        while request := client.recv(65536):
            drop = self._armed and self.marker in request
            upstream.sendall(request)
            reply = upstream.recv(65536)
            if drop:
                self._armed = False
                self.dropped += 1
                self.dropped_replies.append(reply)
                return  # the server executed it; the client never hears back
            client.sendall(reply)


class BlackholeProxy(LoopbackProxy):
    """A proxy to Redis that forwards both ways until ``cut()``; from then on the server still gets every
    command but no reply comes back and connections stay open: a network partition between one run and
    Redis (other clients, connected directly, still reach it)."""

    closes_after_relay = False

    def __init__(self, target_port: int):
        self.cut_at: float | None = None
        super().__init__(target_port)

    def cut(self) -> None:
        self.cut_at = time.monotonic()

    def relay(self, client: socket.socket, upstream: socket.socket) -> None:
        threading.Thread(target=_forward, args=(client, upstream), daemon=True).start()
        _forward(upstream, client, swallow=lambda: self.cut_at is not None)


class CuttingProxy(LoopbackProxy):
    """A proxy that forwards ``limit`` bytes of each request to the server, then drops the connection:
    an upload cut in the middle, as when a worker host dies or the network breaks. The server's replies
    (100 Continue, errors) go back untouched."""

    def __init__(self, target_port: int, limit: int):
        self.limit = limit
        self.cut = 0
        super().__init__(target_port)

    def relay(self, client: socket.socket, upstream: socket.socket) -> None:
        threading.Thread(target=_forward, args=(upstream, client), daemon=True).start()
        sent = 0
        while sent < self.limit:
            chunk = client.recv(min(65536, self.limit - sent))
            if not chunk:
                return
            upstream.sendall(chunk)
            sent += len(chunk)
        self.cut += 1
