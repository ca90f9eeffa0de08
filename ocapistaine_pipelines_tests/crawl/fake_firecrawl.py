"""A loopback server that answers like Firecrawl v2, for the real firecrawl-py SDK.

Shapes follow the SDK 4.55 source (firecrawl/v2/methods/{scrape,map,crawl,batch}.py): every answer
carries ``success``; errors are ``{"success": false, "error": ...}`` with the HTTP status; job
status pages carry ``status, completed, total, creditsUsed, expiresAt, next, data`` and ``next``
is an absolute URL with ``?skip=N``. Documents are ``{markdown, links, metadata: {title,
sourceURL, url, statusCode, contentType, creditsUsed}}``.

Test controls: ``add_page``, ``inject`` (one-off errors on a path), ``lose_answer`` (a job started
whose answer never arrives), ``fail_target`` (a site that always fails), ``fail_in_batch`` (URLs a
batch job cannot scrape), ``job_seconds`` (slow jobs), ``require_key``, ``add_pdf`` (a PDF that
``/v2/scrape`` parses when the request's ``parsers`` include ``pdf``, or omit ``parsers``: the API's
default list has it), billed one credit per parsed page; ``maxPages`` caps it; an explicit list
without ``pdf`` gets no text). ``GET /v2/crawl/active``
lists the crawl jobs still running. ``credits`` counts what a real account would be billed.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakePage:
    url: str
    title: str
    markdown: str
    links: list[str] = field(default_factory=list)
    status_code: int = 200
    redirect_to: str | None = None


@dataclass
class Injected:
    method: str
    path: str
    status: int
    times: int
    headers: dict[str, str]
    error: str


class FakeFirecrawl:
    def __init__(self, api_key: str | None = None, page_size: int = 50, job_seconds: float = 0.0):
        self.api_key = api_key
        self.page_size = page_size
        self.job_seconds = job_seconds
        self.pages: dict[str, FakePage] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.credits = 0
        self.injected: list[Injected] = []
        self.failing_targets: dict[str, int] = {}
        self.batch_failures: set[str] = set()
        self.map_extra: list[str] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.lost_answers: list[list[Any]] = []  # [path, how, times]: accept the job, then lose the answer
        self.pdfs: dict[str, tuple[str, int, int]] = {}  # url -> (markdown, pages, status code)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-firecrawl", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- controls -----------------------------------------------------------------------------------------
    def add_page(
        self,
        url: str,
        title: str = "",
        markdown: str | None = None,
        links=(),
        status_code: int = 200,
        redirect_to: str | None = None,
    ) -> FakePage:
        page = FakePage(
            url,
            title or url.rsplit("/", 2)[-2],
            markdown if markdown is not None else f"# {title or url}\n",
            list(links),
            status_code,
            redirect_to,
        )
        self.pages[url] = page
        return page

    def inject(
        self,
        path: str,
        status: int,
        times: int = 1,
        headers: dict | None = None,
        method: str = "",
        error: str = "injected error",
    ) -> None:
        self.injected.append(Injected(method, path, status, times, dict(headers or {}), error))

    def fail_target(self, url_prefix: str, status: int = 500) -> None:
        """Every map/scrape/crawl of a URL under this prefix answers ``status``."""
        self.failing_targets[url_prefix] = status

    def lose_answer(self, path: str, how: str = "drop", times: int = 1) -> None:
        """The next POST to ``path`` starts its job, then the answer is lost: ``drop`` closes the
        connection without a reply, ``500`` answers an internal error (as a proxy in front would)."""
        self.lost_answers.append([path, how, times])

    def add_pdf(self, url: str, markdown: str, pages: int, status_code: int = 200) -> None:
        self.pdfs[url] = (markdown, pages, status_code)

    def pdf_document(self, url: str, parsers: list | None) -> tuple[dict[str, Any], int]:
        """(document, credits) for a scrape of a PDF URL: one credit per parsed page (max_pages caps it)."""
        markdown, pages, status = self.pdfs[url]
        parsers = ["pdf", "image"] if parsers is None else parsers
        wanted = [p for p in parsers if p == "pdf" or (isinstance(p, dict) and p.get("type") == "pdf")]
        pdf = wanted[0] if wanted else None
        if status >= 400:
            meta = {
                "sourceURL": url,
                "url": url,
                "statusCode": status,
                "contentType": "text/html",
                "creditsUsed": 1,
                "error": "Not Found",
            }
            return {"markdown": "", "metadata": meta}, 1
        if pdf is None:
            markdown, pages = "", 0
        elif isinstance(pdf, dict) and pdf.get("maxPages"):
            pages = min(pages, int(pdf["maxPages"]))
        credits = max(1, pages)
        meta = {
            "title": url.rsplit("/", 1)[-1],
            "sourceURL": url,
            "url": url,
            "statusCode": status,
            "contentType": "application/pdf",
            "numPages": pages,
            "creditsUsed": credits,
        }
        return {"markdown": markdown, "metadata": meta}, credits

    def fail_in_batch(self, url: str) -> None:
        self.batch_failures.add(url)

    def calls(self, method: str, path_prefix: str) -> list[Any]:
        return [body for m, p, body in self.requests if m == method and p.startswith(path_prefix)]

    # -- documents ----------------------------------------------------------------------------------------
    def document(self, url: str) -> dict[str, Any]:
        page = self.pages.get(url)
        if page is None:
            return {
                "markdown": "# Page introuvable\n",
                "links": [],
                "metadata": {
                    "title": "404",
                    "sourceURL": url,
                    "url": url,
                    "statusCode": 404,
                    "contentType": "text/html",
                    "creditsUsed": 1,
                    "error": "Not Found",
                },
            }
        return {
            "markdown": page.markdown,
            "links": list(page.links),
            "metadata": {
                "title": page.title,
                "sourceURL": url,
                "url": page.redirect_to or url,
                "statusCode": page.status_code,
                "contentType": "text/html",
                "creditsUsed": 1,
            },
        }

    def _target_failure(self, url: str) -> int | None:
        for prefix, status in self.failing_targets.items():
            if url.startswith(prefix):
                return status
        return None

    def _new_job(
        self, kind: str, docs: list[dict], errors: list[dict], status: str = "completed", url: str = ""
    ) -> str:
        job_id = str(uuid.uuid4())
        with self._lock:
            self.jobs[job_id] = {
                "kind": kind,
                "docs": docs,
                "errors": errors,
                "ready_at": time.monotonic() + self.job_seconds,
                "status": status,
                "url": url,
            }
            self.credits += len(docs)
        return job_id


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _handler(fake: FakeFirecrawl):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
            raw = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        def _error(self, status: int, message: str, headers: dict | None = None) -> None:
            self._send(status, {"success": False, "error": message}, headers)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}") if length else {}

        def _prelude(self, method: str) -> tuple[str, dict] | None:
            parts = urlsplit(self.path)
            body = self._body() if method == "POST" else None
            fake.requests.append((method, parts.path, body))
            if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                self._error(401, "Unauthorized: Invalid token")
                return None
            for item in fake.injected:
                if (
                    item.times > 0
                    and parts.path.startswith(item.path)
                    and (not item.method or item.method == method)
                ):
                    item.times -= 1
                    self._error(item.status, item.error, item.headers)
                    return None
            return parts.path, {"body": body, "query": parse_qs(parts.query)}

        # -- POST ------------------------------------------------------------------------------------------
        def do_POST(self):
            got = self._prelude("POST")
            if got is None:
                return
            path, req = got
            body = req["body"] or {}
            if path == "/v2/map":
                return self._map(body)
            if path == "/v2/scrape":
                return self._scrape(body)
            if path == "/v2/crawl":
                return self._crawl(body)
            if path == "/v2/batch/scrape":
                return self._batch(body)
            self._error(404, f"no route {path}")

        def _map(self, body):
            url = body["url"]
            status = fake._target_failure(url)
            if status:
                return self._error(status, "target failed")
            links = [u for u in fake.pages if _host(u) == _host(url)] + list(fake.map_extra)
            links = links[: int(body.get("limit") or 5000)]
            fake.credits += 1
            self._send(
                200,
                {
                    "success": True,
                    "links": [
                        {"url": u, "title": fake.pages[u].title if u in fake.pages else None} for u in links
                    ],
                },
            )

        def _scrape(self, body):
            url = body["url"]
            status = fake._target_failure(url)
            if status:
                return self._error(status, "target failed")
            if url in fake.pdfs:
                document, credits = fake.pdf_document(url, body.get("parsers"))
                fake.credits += credits
                return self._send(200, {"success": True, "data": document})
            fake.credits += 1
            self._send(200, {"success": True, "data": fake.document(url)})

        def _crawl(self, body):
            url = body["url"]
            status = fake._target_failure(url)
            if status:
                return self._error(status, "target failed")
            start = urlsplit(url)
            include = body.get("includePaths") or []
            exclude = body.get("excludePaths") or []
            selected = []
            for page_url in fake.pages:
                parts = urlsplit(page_url)
                if _host(page_url) != _host(url):
                    continue
                if not body.get("crawlEntireDomain") and not parts.path.startswith(start.path):
                    continue
                if include and not any(re.search(p, parts.path) for p in include):
                    continue
                if exclude and any(re.search(p, parts.path) for p in exclude):
                    continue
                selected.append(page_url)
            selected = selected[: int(body.get("limit") or 10000)]
            job_id = fake._new_job("crawl", [fake.document(u) for u in selected], [], url=url)
            if self._lose_answer("/v2/crawl"):
                return
            self._send(200, {"success": True, "id": job_id, "url": f"{fake.url}/v2/crawl/{job_id}"})

        def _lose_answer(self, path: str) -> bool:
            for item in fake.lost_answers:
                if item[0] == path and item[2] > 0:
                    item[2] -= 1
                    if item[1] == "drop":
                        self.close_connection = True  # no status line: the client sees the connection closed
                    else:
                        self._error(int(item[1]), "upstream connect error")
                    return True
            return False

        def _batch(self, body):
            docs, errors = [], []
            for url in body["urls"]:
                if url in fake.batch_failures or fake._target_failure(url):
                    errors.append(
                        {
                            "id": str(uuid.uuid4()),
                            "timestamp": None,
                            "url": url,
                            "error": "scrape failed: timeout",
                        }
                    )
                else:
                    docs.append(fake.document(url))
            job_id = fake._new_job("batch", docs, errors)
            self._send(
                200,
                {
                    "success": True,
                    "id": job_id,
                    "url": f"{fake.url}/v2/batch/scrape/{job_id}",
                    "invalidURLs": [],
                },
            )

        # -- GET / DELETE -----------------------------------------------------------------------------------
        def do_GET(self):
            got = self._prelude("GET")
            if got is None:
                return
            path, req = got
            if path == "/v2/crawl/active":  # jobs still running, as GET /v2/crawl/active lists them
                now = time.monotonic()
                crawls = [
                    {"id": job_id, "teamId": "team-1", "url": job["url"], "options": {}}
                    for job_id, job in fake.jobs.items()
                    if job["kind"] == "crawl" and job["status"] != "cancelled" and now < job["ready_at"]
                ]
                return self._send(200, {"success": True, "crawls": crawls})
            match = re.fullmatch(r"/v2/(crawl|batch/scrape)/([^/]+)(/errors)?", path)
            if not match or match.group(2) not in fake.jobs:
                return self._error(404, "job not found")
            kind, job_id, errors = match.groups()
            job = fake.jobs[job_id]
            if errors:
                return self._send(200, {"errors": job["errors"], "robotsBlocked": []})
            total = len(job["docs"]) + len(job["errors"])
            if job["status"] == "cancelled":
                return self._send(
                    200,
                    {
                        "success": True,
                        "status": "cancelled",
                        "completed": 0,
                        "total": total,
                        "creditsUsed": 0,
                        "data": [],
                    },
                )
            if time.monotonic() < job["ready_at"]:
                return self._send(
                    200,
                    {
                        "success": True,
                        "status": "scraping",
                        "completed": 0,
                        "total": total,
                        "creditsUsed": 0,
                        "expiresAt": "2099-01-01T00:00:00Z",
                        "data": [],
                    },
                )
            skip = int((req["query"].get("skip") or ["0"])[0])
            page = job["docs"][skip : skip + fake.page_size]
            more = skip + fake.page_size < len(job["docs"])
            answer = {
                "success": True,
                "status": job["status"],
                "completed": len(job["docs"]),
                "total": total,
                "creditsUsed": len(job["docs"]),
                "expiresAt": "2099-01-01T00:00:00Z",
                "data": page,
            }
            if more:
                answer["next"] = f"{fake.url}/v2/{kind}/{job_id}?skip={skip + fake.page_size}"
            self._send(200, answer)

        def do_DELETE(self):
            got = self._prelude("DELETE")
            if got is None:
                return
            path, _ = got
            match = re.fullmatch(r"/v2/(crawl|batch/scrape)/([^/]+)", path)
            if not match or match.group(2) not in fake.jobs:
                return self._error(404, "job not found")
            fake.jobs[match.group(2)]["status"] = "cancelled"
            self._send(200, {"success": True, "status": "cancelled"})

    return Handler


def build_site(
    fake: FakeFirecrawl, base: str, count: int, section: str = "arretes", start: int = 0
) -> list[str]:
    """``count`` document pages under ``{base}/{section}/`` (each linking a PDF), and the listing page
    ``{base}/{section}/`` linking the newest 20, as a WordPress listing does."""
    urls = []
    for i in range(start, start + count):
        url = f"{base}/{section}/document-{i:05d}/"
        pdf = f"{base}/wp-content/uploads/2026/{section}-{i:05d}.pdf"
        fake.add_page(
            url,
            title=f"{section} n°{i}",
            markdown=f"# {section} n°{i}\n\nTexte de l'acte {i}.\n\n[Télécharger le PDF]({pdf})\n",
            links=[pdf],
        )
        urls.append(url)
    listing = f"{base}/{section}/"
    newest = list(reversed([u for u in fake.pages if u.startswith(listing) and u != listing]))[:20]
    fake.add_page(
        listing,
        title=f"Liste {section}",
        markdown="# Liste\n\n" + "\n".join(f"- [{u}]({u})" for u in newest),
        links=newest,
    )
    return urls
