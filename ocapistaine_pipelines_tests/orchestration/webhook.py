"""A loopback HTTP receiver standing in for the n8n webhook that takes the failure alerts."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_PATH = "/webhook/7f3c-secret-token/ocapistaine-alerts"


class Webhook:
    """An n8n-like receiver on 127.0.0.1 that answers the statuses it is told to, in order."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.received: list[dict] = []
        self.paths: list[str] = []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                webhook.paths.append(self.path)
                webhook.received.append(json.loads(body))
                status = webhook.statuses.pop(0) if len(webhook.statuses) > 1 else webhook.statuses[0]
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
