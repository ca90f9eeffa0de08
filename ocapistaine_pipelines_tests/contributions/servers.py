"""Loopback HTTP servers answering like the real APIs: an OpenAI-compatible LLM, the n8n webhook, GitHub."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class LoopbackServer:
    """A ThreadingHTTPServer on a free port; its handler calls
    ``self.handle(method, path, headers, body)``."""

    def __init__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = (
                True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
            )

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = owner.handle(self.command, self.path, dict(self.headers), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for key, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self, **fields) -> None:
        with self.lock:
            self.requests.append(fields)

    def handle(self, method, path, headers, body):  # pragma: no cover - overridden
        return 404, {}, {"error": "not found"}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def count_tokens(text: str) -> int:
    """Tokens as an OpenAI tokenizer counts them (cl100k, shipped inside litellm: no download)."""
    import litellm

    return litellm.token_counter(model="gpt-4", text=text)


def chat_completion(model: str, content: str, prompt_tokens: int = 50) -> dict:
    completion_tokens = count_tokens(content) if content else 0
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def default_judge(kind: str, user: str) -> dict:
    """A stand-in model: flags shouting/insults, files by a keyword; enough to check the plumbing."""
    if kind == "charter":
        if re.search(r"IDIOTS|incapables", user):
            return {
                "is_valid": False,
                "violations": ["aggressive"],
                "encouraged_aspects": [],
                "reasoning": "Insultes envers les élus.",
                "confidence": 0.9,
            }
        return {
            "is_valid": True,
            "violations": [],
            "encouraged_aspects": ["concrete_proposal"],
            "reasoning": "Proposition concrète et locale.",
            "confidence": 0.8,
        }
    category = "ecologie" if re.search(r"plage|dune|vélo", user) else "economie"
    if kind == "verdict":
        return {**default_judge("charter", user), "category": category}
    return {"category": category, "reasoning": "Vocabulaire du thème.", "confidence": 0.7}


class FakeLLM(LoopbackServer):
    """``POST /v1/chat/completions``. ``modes[model]``: ok | rate_limit | quota | malformed | slow | error."""

    def __init__(self, delay: float = 0.0, judge: Callable[[str, str], dict] = default_judge):
        self.modes: dict[str, str] = {}
        self.delay = delay
        self.slow_seconds = 3.0
        self.judge = judge
        self.malformed_left: dict[str, int] = {}
        super().__init__()

    def handle(self, method, path, headers, body):
        request = json.loads(body or b"{}")
        model = request.get("model", "")
        system = request["messages"][0]["content"]
        user = request["messages"][-1]["content"]
        # the one-call prompt is the charter's (Forseti) and also asks for the category
        kind = ("verdict" if '"category"' in system else "charter") if "Forseti" in system else "category"
        self.record(
            model=model,
            kind=kind,
            user=user,
            temperature=request.get("temperature"),
            response_format=request.get("response_format"),
            authorization=headers.get("Authorization"),
        )
        if self.delay:
            time.sleep(self.delay)
        mode = self.modes.get(model, "ok")
        if mode == "rate_limit":
            return (
                429,
                {},
                {
                    "error": {
                        "message": "Rate limit reached for requests",
                        "type": "rate_limit_error",
                        "code": "rate_limit_exceeded",
                    }
                },
            )
        if mode == "quota":
            return (
                429,
                {},
                {
                    "error": {
                        "message": "You exceeded your current quota",
                        "type": "insufficient_quota",
                        "code": "insufficient_quota",
                    }
                },
            )
        if mode == "error":  # echoes the credential it got, as some gateways do: the validator must redact it
            message = f"bad request (Authorization: {headers.get('Authorization')})"
            return 400, {}, {"error": {"message": message, "type": "invalid_request_error"}}
        if mode == "slow":
            time.sleep(self.slow_seconds)
        if mode == "malformed" or self.malformed_left.get(model, 0) > 0:
            if self.malformed_left.get(model, 0) > 0:
                self.malformed_left[model] -= 1
            return 200, {}, chat_completion(model, '{"is_valid": "peut-être", "violations": ')
        prompt_tokens = sum(count_tokens(m["content"]) for m in request["messages"])
        return (
            200,
            {},
            chat_completion(model, json.dumps(self.judge(kind, user), ensure_ascii=False), prompt_tokens),
        )


class FakeEmbeddings(LoopbackServer):
    """``POST /v1/embeddings`` as OpenAI answers it: one vector per input, derived from the text's bytes, in a
    shuffled ``index`` order (clients must sort). ``mode``: ok | error (echoes the key) | short (a vector
    missing)."""

    def __init__(self, dim: int = 16):
        self.dim = dim
        self.mode = "ok"
        super().__init__()

    @staticmethod
    def vector(text: str, dim: int) -> list[float]:
        import hashlib

        digest = hashlib.sha256(text.encode()).digest()
        return [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dim)]

    def handle(self, method, path, headers, body):
        request = json.loads(body or b"{}")
        inputs = request.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        self.record(
            path=path, model=request.get("model"), inputs=inputs, authorization=headers.get("Authorization")
        )
        if not path.endswith("/embeddings"):
            return 404, {}, {"error": {"message": "not found"}}
        if self.mode == "error":
            return (
                400,
                {},
                {
                    "error": {
                        "message": f"bad key (Authorization: {headers.get('Authorization')})",
                        "type": "invalid_request_error",
                    }
                },
            )
        data = [
            {"object": "embedding", "index": i, "embedding": self.vector(t, self.dim)}
            for i, t in enumerate(inputs)
        ]
        if self.mode == "short":
            data = data[:-1]
        data.reverse()
        return (
            200,
            {},
            {
                "object": "list",
                "data": data,
                "model": request.get("model"),
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            },
        )


class FakeN8N(LoopbackServer):
    """``POST /webhook/participons/issues`` answering pages of ``issues`` as the n8n workflow does."""

    def __init__(
        self, issues: list[dict], *, honour_page: bool = True, fail_with: tuple[int, Any] | None = None
    ):
        self.issues = issues
        self.honour_page = honour_page
        self.fail_with = fail_with
        super().__init__()

    def handle(self, method, path, headers, body):
        request = json.loads(body or b"{}")
        self.record(method=method, path=path, body=request)
        if self.fail_with:
            status, payload = self.fail_with
            return status, {}, payload
        if method != "POST" or not path.startswith("/webhook/participons/issues"):
            return 404, {}, {"message": "Webhook not registered"}
        per_page = int(request.get("per_page", 50))
        page = int(request.get("page", 1)) if self.honour_page else 1
        chunk = self.issues[(page - 1) * per_page : page * per_page]
        return 200, {}, {"success": True, "count": len(chunk), "issues": chunk}


class FakeGitHub(LoopbackServer):
    """``GET /repos/{owner}/{repo}/issues`` with ``per_page``/``page`` and ``Link: rel="next"`` headers."""

    def __init__(self, issues: list[dict], *, token: str | None = None):
        self.issues = issues
        self.token = token
        super().__init__()

    def handle(self, method, path, headers, body):
        parts = urlsplit(path)
        self.record(
            method=method, path=parts.path, query=parts.query, authorization=headers.get("Authorization")
        )
        if self.token and headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {}, {"message": "Bad credentials"}
        if not re.fullmatch(r"/repos/[^/]+/[^/]+/issues", parts.path):
            return 404, {}, {"message": "Not Found"}
        query = parse_qs(parts.query)
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = self.issues[(page - 1) * per_page : page * per_page]
        headers_out = {}
        if page * per_page < len(self.issues):
            headers_out["Link"] = (
                f'<{self.url}{parts.path}?state=all&per_page={per_page}&page={page + 1}>; rel="next"'
            )
        return 200, headers_out, chunk
