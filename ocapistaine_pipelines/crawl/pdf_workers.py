"""Extraction in worker processes that can be stopped.

A pathological PDF can make a parser spin for hours or eat all memory, and a thread cannot be
stopped from outside. So each extraction runs in a child process (``spawn``: no copy of the run's
threads and sockets), with a time limit per document and a memory limit (``RLIMIT_AS``); a worker
over its time is killed and replaced, and the document gets status ``timeout``. Workers are started
on first use and reused, so a night with nothing to extract starts none.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

#: A worker imports the PDF library before its first document (a cold start on a busy machine).
STARTUP_SECONDS = 60.0


def _serve(conn, memory_mb: int) -> None:
    """Child process: extract the files the parent sends, one at a time, until told to stop."""
    if memory_mb > 0:
        import resource

        limit = memory_mb * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ValueError, OSError):  # a lower hard limit already applies
            pass
    from .pdf_text import extract, warm_up

    warm_up()
    conn.send("ready")  # the parent starts its clock on a document only once the worker can work
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            result = extract(task["path"], task.get("max_pages", 0))
        except MemoryError:
            result = {
                "status": "damaged",
                "reason": f"the parser went over its {memory_mb} MB memory limit",
                "pages": 0,
                "pages_without_text": 0,
                "characters": 0,
                "page_texts": [],
            }
        conn.send(result)


class _Worker:
    def __init__(self, memory_mb: int):
        context = mp.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, memory_mb), daemon=True, name="ocapistaine-pdf-extraction"
        )
        self.process.start()
        child.close()
        try:
            ready = self.conn.poll(STARTUP_SECONDS) and self.conn.recv() == "ready"
        except (EOFError, OSError):  # it died while importing the parser
            ready = False
        if not ready:
            self.stop(kill=True)
            raise RuntimeError(
                f"the PDF extraction worker did not start (waited up to {STARTUP_SECONDS:g} s)"
                + (
                    f": its memory limit of {memory_mb} MB may be too low to load the parser "
                    "(pdfs.extraction_memory_mb)"
                    if memory_mb > 0
                    else ""
                )
            )

    def stop(self, kill: bool = False) -> None:
        if not kill:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                kill = True
            else:
                self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class ExtractionPool:
    """``size`` workers; ``extract(path)`` blocks the calling thread until the text or the time limit.

    ``check`` (the task's stop hook) is called while waiting, so a lost lock stops a long extraction too:
    the worker is killed and the hook's exception propagates.
    """

    def __init__(
        self,
        size: int = 2,
        timeout_seconds: float = 120.0,
        memory_mb: int = 2048,
        check: Callable[[], None] = lambda: None,
    ):
        self.size = max(1, size)
        self.timeout = timeout_seconds
        self.memory_mb = memory_mb
        self.check = check
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()
        self._all: list[_Worker] = []
        self.killed = 0

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle.empty() and self._started < self.size:
                self._started += 1
                try:
                    worker = _Worker(self.memory_mb)
                except BaseException:
                    self._started -= 1  # else the next document would wait for a worker forever
                    raise
                self._all.append(worker)
                return worker
        return self._idle.get()

    def _replace(self, worker: _Worker) -> None:
        worker.stop(kill=True)
        with self._lock:
            self._all.remove(worker)
            self._started -= 1

    def extract(self, path: str, max_pages: int = 0) -> dict[str, Any]:
        worker = self._take()
        try:
            worker.conn.send({"path": path, "max_pages": max_pages})
            deadline = time.monotonic() + self.timeout
            while not worker.conn.poll(min(0.25, max(0.0, deadline - time.monotonic()))):
                self.check()
                if time.monotonic() >= deadline:
                    self._replace(worker)
                    self.killed += 1
                    worker = None
                    return {
                        "status": "timeout",
                        "reason": f"extraction stopped after {self.timeout:g} s",
                        "pages": 0,
                        "pages_without_text": 0,
                        "characters": 0,
                        "page_texts": [],
                    }
            result = worker.conn.recv()
        except (EOFError, OSError) as error:
            code = worker.process.exitcode if worker is not None else None
            if worker is not None:
                self._replace(worker)
                worker = None
            return {
                "status": "damaged",
                "reason": f"the extraction process died (exit code {code}: {error!r})",
                "pages": 0,
                "pages_without_text": 0,
                "characters": 0,
                "page_texts": [],
            }
        except BaseException:
            if worker is not None:  # stopped (lost lock): the worker may be mid-document
                self._replace(worker)
                worker = None
            raise
        finally:
            if worker is not None:
                self._idle.put(worker)
        return result

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
            self._started = 0
        for worker in workers:
            worker.stop()

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc: BaseException | None) -> None:
        self.close()
