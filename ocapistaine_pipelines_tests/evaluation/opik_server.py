"""A loopback Opik server: answers the REST calls the real SDK makes for a dataset and an experiment.

Shapes come from the SDK (opik 2.2.122, ``opik/rest_api``): ``POST datasets/retrieve`` answers 404 for
an unknown name (the SDK then creates it), items are upserted by id and streamed back as NDJSON,
traces, spans, experiment items and feedback scores are recorded as received. Bodies may be gzip;
``Authorization`` carries the raw key. Every request is kept for the test to assert on.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    gzipped: bool = False


@dataclass
class OpikState:
    datasets: dict[str, dict] = field(default_factory=dict)  # name -> public dataset
    items: dict[str, dict[str, dict]] = field(default_factory=dict)  # dataset name -> item id -> item
    experiments: dict[str, dict] = field(default_factory=dict)  # id -> experiment
    experiment_items: list[dict] = field(default_factory=list)
    traces: list[dict] = field(default_factory=list)
    spans: list[dict] = field(default_factory=list)
    feedback_scores: list[dict] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)


class OpikServer:
    """``OpikServer(api_key=...)`` on 127.0.0.1; ``url`` is the ``OPIK_URL_OVERRIDE`` (ends in ``/api``).

    ``fail`` maps ``"METHOD /api/path"`` to an HTTP status to answer instead (error injection);
    ``add_dataset`` seeds a dataset that already exists on the server.
    """

    def __init__(self, api_key: str | None = None, fail: dict[str, int] | None = None):
        self.api_key = api_key
        self.fail = dict(fail or {})
        self.lose_item_ids: set[str] = set()  # items accepted by PUT but never stored (a lossy server)
        self.state = OpikState()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                server._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="opik-loopback", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> OpikServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers for tests ----------------------------------------------------------------------------
    def add_dataset(self, name: str, items: list[dict]) -> None:
        with self.lock:
            self.state.datasets[name] = {"id": str(uuid.uuid4()), "name": name, "description": "seeded"}
            self.state.items[name] = {item["id"]: item for item in items}

    def calls(self, method: str, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.state.requests if r.method == method and r.path == path]

    def scores_by_name(self) -> dict[str, list[float]]:
        scores: dict[str, list[float]] = {}
        with self.lock:
            for score in self.state.feedback_scores:
                scores.setdefault(score["name"], []).append(score["value"])
        return scores

    # -- the HTTP side ----------------------------------------------------------------------------------
    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        gzipped = handler.headers.get("Content-Encoding", "").lower() == "gzip" or raw[:2] == b"\x1f\x8b"
        if gzipped:
            raw = gzip.decompress(raw)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = handler.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = Request(handler.command, path, headers, body, gzipped)
        with self.lock:
            self.state.requests.append(request)
        status = self.fail.get(f"{handler.command} {path}")
        if status is None and self.api_key is not None and headers.get("authorization") != self.api_key:
            status = 401
        if status is not None:
            return self._reply(handler, status, {"errors": [f"injected {status}"]})
        try:
            status, payload, content_type = self._route(request, handler)
        except KeyError as error:
            status, payload, content_type = 404, {"errors": [f"not found: {error}"]}, "application/json"
        self._reply(handler, status, payload, content_type)

    def _reply(self, handler, status: int, payload: Any, content_type: str = "application/json") -> None:
        if payload is None:
            data = b""
        elif isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload).encode()
        handler.send_response(status)
        if data:
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, request: Request, handler) -> tuple[int, Any, str]:
        method, path, body = request.method, request.path, request.body
        json_type = "application/json"
        state = self.state
        if path == "/api/is-alive/ping":
            return 200, {"healthy": True}, json_type
        if path == "/api/is-alive/ver":
            return 200, {"version": "2.2.122"}, json_type
        prefix = "/api/v1/private/"
        if not path.startswith(prefix):
            return 404, {"errors": [f"unknown path {path}"]}, json_type
        route = path[len(prefix) :]
        with self.lock:
            if method == "POST" and route == "datasets/retrieve":
                dataset = state.datasets.get(body["dataset_name"])
                if dataset is None:
                    return 404, {"errors": ["Dataset not found"]}, json_type
                count = len(state.items.get(dataset["name"], {}))
                return 200, {**dataset, "dataset_items_count": count}, json_type
            if method == "POST" and route == "projects/retrieve":
                name = body["name"]
                return 200, {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), "name": name}, json_type
            if method == "POST" and route == "datasets":
                dataset_id = body.get("id") or str(uuid.uuid4())
                state.datasets[body["name"]] = {
                    "id": dataset_id,
                    "name": body["name"],
                    "description": body.get("description"),
                }
                state.items.setdefault(body["name"], {})
                return 201, None, json_type
            if method == "PUT" and route == "datasets/items":
                name = body["dataset_name"]
                if name not in state.datasets:
                    return 404, {"errors": ["Dataset not found"]}, json_type
                for item in body["items"]:
                    if item["id"] not in self.lose_item_ids:
                        state.items[name][item["id"]] = item
                return 204, None, json_type
            if method == "POST" and route == "datasets/items/stream":
                return 200, self._stream(body), "application/octet-stream"
            if method == "GET" and route.startswith("datasets/") and route.endswith("/versions"):
                return 200, {"content": [], "page": 1, "size": 0, "total": 0}, json_type
            if method == "POST" and route == "experiments":
                state.experiments[body["id"]] = dict(body)
                return 201, None, json_type
            if method == "PATCH" and route.startswith("experiments/"):
                state.experiments[route.split("/", 1)[1]].update(body or {})
                return 204, None, json_type
            if method == "POST" and route == "experiments/items":
                state.experiment_items.extend(body.get("experiment_items", []))
                return 204, None, json_type
            if method == "POST" and route == "experiments/finish":
                state.finished.extend(body.get("ids", []))
                return 204, None, json_type
            if method == "POST" and route == "traces/batch":
                state.traces.extend(body.get("traces", []))
                return 204, None, json_type
            if method == "PATCH" and route.startswith("traces/"):
                return 204, None, json_type
            if method == "POST" and route == "spans/batch":
                state.spans.extend(body.get("spans", []))
                return 204, None, json_type
            if method == "PUT" and route == "traces/feedback-scores":
                state.feedback_scores.extend(body.get("scores", []))
                return 204, None, json_type
            if method == "PUT" and route == "spans/feedback-scores":
                return 204, None, json_type
        return 404, {"errors": [f"not answered by the loopback server: {method} {path}"]}, json_type

    def _stream(self, body: dict) -> bytes:
        name = body["dataset_name"]
        dataset = self.state.datasets[name]
        items = sorted(self.state.items.get(name, {}).values(), key=lambda item: item["id"], reverse=True)
        last = body.get("last_retrieved_id")
        if last:
            items = [item for item in items if item["id"] < last]
        limit = body.get("steam_limit") or 2000
        lines = []
        for item in items[:limit]:
            lines.append(
                json.dumps(
                    {
                        "id": item["id"],
                        "source": item.get("source") or "sdk",
                        "data": item["data"],
                        "dataset_id": dataset["id"],
                    }
                )
            )
        return ("\n".join(lines) + ("\n" if lines else "")).encode()
