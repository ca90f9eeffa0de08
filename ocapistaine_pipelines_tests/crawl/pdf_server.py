"""A loopback web server for the PDF tests: serves the files the tests put on it, like a town's site.

Answers GET and HEAD with ``ETag`` and ``Last-Modified`` (and 304 to a matching conditional request),
a chosen ``Content-Type``, a ``Content-Length`` or a chunked body, a status (404, 410, 500), or a
redirect. Every request is recorded with its Host, method, path and headers, so a test can prove that
a foreign host was never asked and that a second night downloaded nothing.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    body: bytes = b""
    content_type: str = "application/pdf"
    status: int = 200
    chunked: bool = False
    location: str | None = None
    validators: bool = True
    declared_length: int | None = None  # a Content-Length other than the body's (a huge file)
    etag: str = ""
    head_status: int | None = None  # a server that does not answer HEAD (405, 501) as it answers GET

    def __post_init__(self):
        self.etag = self.etag or '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


@dataclass
class Seen:
    method: str
    host: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0
    body_bytes: int = 0


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # a client that hung up on a huge file is expected
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class PdfSite:
    LAST_MODIFIED = "Sun, 01 Mar 2026 08:00:00 GMT"

    def __init__(self):
        self.files: dict[str, Served] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="pdf-site", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def put(self, path: str, body: bytes = b"", **kwargs) -> str:
        self.files[path] = Served(body, **kwargs)
        return self.url(path)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests(self, method: str = "", status: int | None = None) -> list[Seen]:
        with self._lock:
            return [
                s
                for s in self.seen
                if (not method or s.method == method) and (status is None or s.status == status)
            ]

    def downloaded_bytes(self) -> int:
        with self._lock:
            return sum(s.body_bytes for s in self.seen)


def _handler(site: PdfSite):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self._answer(head=True)

        def do_GET(self):
            self._answer(head=False)

        def _answer(self, head: bool) -> None:
            seen = Seen(self.command, self.headers.get("Host", ""), self.path, dict(self.headers.items()))
            with site._lock:
                site.seen.append(seen)
            served = site.files.get(self.path)
            if served is None:
                return self._status(seen, 404, b"<html>introuvable</html>", "text/html")
            if head and served.head_status:
                return self._status(seen, served.head_status, b"", "text/html")
            if served.location:
                seen.status = served.status
                self.send_response(served.status)
                self.send_header("Location", served.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if served.status != 200:
                return self._status(seen, served.status, b"<html>erreur</html>", "text/html")
            if served.validators and (
                self.headers.get("If-None-Match") == served.etag
                or self.headers.get("If-Modified-Since") == site.LAST_MODIFIED
            ):
                seen.status = 304
                self.send_response(304)
                self.send_header("ETag", served.etag)
                self.end_headers()
                return
            seen.status = 200
            self.send_response(200)
            self.send_header("Content-Type", served.content_type)
            if served.validators:
                self.send_header("ETag", served.etag)
                self.send_header("Last-Modified", site.LAST_MODIFIED)
            if served.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(served.declared_length or len(served.body)))
            self.end_headers()
            if head:
                return
            try:
                if served.chunked:
                    for start in range(0, len(served.body), 32 * 1024):
                        piece = served.body[start : start + 32 * 1024]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        seen.body_bytes += len(piece)
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(served.body)
                    seen.body_bytes += len(served.body)
            except (BrokenPipeError, ConnectionResetError):  # the client stopped reading: that is the point
                self.close_connection = True

        def _status(self, seen: Seen, status: int, body: bytes, kind: str) -> None:
            seen.status = status
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler
