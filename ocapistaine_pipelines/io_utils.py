"""Small helpers every domain needs: atomic file writes, URLs safe to show, secret redaction."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Optional
from urllib.parse import urlsplit


def atomic_write(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder and ``os.replace``: a crash never leaves
    half a file, and the temporary file is removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_parquet(frame: Any, path: Path) -> None:
    """A pandas DataFrame to parquet, atomically."""
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write(path, buffer.getvalue())


def safe_url(url: str) -> str:
    """The URL without credentials, query string or fragment (tokens often ride there)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def redact(text: str, secrets: Iterable[Optional[str]]) -> str:
    """``text`` with ``secrets`` and every secret of the process replaced by ``***``: the one
    redaction path (``redaction.redact``), kept here for the callers that name their own secrets."""
    from .redaction import redact as redact_all

    return redact_all(text, secrets)
