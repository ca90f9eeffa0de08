"""Small helpers every domain needs: atomic file writes and reads that work the same on a local
folder and on an object store, URLs safe to show, secret redaction.

A data path is a ``pathlib.Path`` (local folder) or a ``upath.UPath`` (``s3://bucket/prefix``, see
``data_path``): both join with ``/`` and have ``exists``, ``read_bytes``, ``read_text``,
``glob``, ``name``, ``stem``, ``with_name``. Writes, parquet reads and moves go through the helpers
below, which pick the safe way for each kind.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import urlsplit

if TYPE_CHECKING:  # universal-pathlib loads only for an object-store data dir
    from upath import UPath

#: A local path or an object-store path (``upath.UPath``).
DataPath = Union[Path, "UPath"]


#: URL schemes a data dir may use for an object store (s3fs; AWS S3, MinIO, any S3-compatible store).
OBJECT_STORE_SCHEMES = ("s3", "s3a")


def data_path(location: str | DataPath) -> DataPath:
    """A data dir (``OCAPISTAINE_DATA_DIR``) as a path: a local folder (``Path``), or
    ``s3://bucket/prefix`` (a ``UPath`` on s3fs), so that runs on several hosts share one store.
    Endpoint, credentials and region come from the AWS SDK's own chain (``AWS_ENDPOINT_URL``,
    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``~/.aws``, instance
    roles), never from the URL. A URL is refused with a
    message that never repeats it (it could carry a secret)."""
    if not isinstance(location, str):
        return location
    text = location.strip()
    if not text:
        raise ValueError("OCAPISTAINE_DATA_DIR is empty: give a local folder or s3://bucket/prefix")
    if "://" not in text:
        return Path(text).expanduser().resolve()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return Path(parts.path).expanduser().resolve()
    if scheme not in OBJECT_STORE_SCHEMES:
        raise ValueError(
            f"OCAPISTAINE_DATA_DIR: unsupported scheme {scheme!r}; give a local folder or s3://bucket/prefix"
        )
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            "OCAPISTAINE_DATA_DIR: an s3:// URL takes no credentials, query or fragment; set "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for MinIO or another "
            "S3-compatible store) instead"
        )
    if not parts.netloc:
        raise ValueError("OCAPISTAINE_DATA_DIR: the s3:// URL names no bucket (s3://bucket/prefix)")
    prefix = "/".join(piece for piece in parts.path.split("/") if piece)
    if any(piece in (".", "..") for piece in prefix.split("/")):
        raise ValueError("OCAPISTAINE_DATA_DIR: the s3:// prefix may not contain . or .. segments")
    from upath import UPath

    # No listing cache: another worker may have written a file since this process last listed. The
    # endpoint is passed explicitly so that fsspec's per-process cache of filesystems is keyed by it.
    options: dict[str, Any] = {"use_listings_cache": False}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    return UPath(f"s3://{parts.netloc}/{prefix}".rstrip("/"), **options)


def is_remote(path: DataPath) -> bool:
    """True for an object-store path (a local ``UPath`` is a ``pathlib.Path`` too)."""
    return not isinstance(path, Path)


def atomic_write(path: DataPath, data: bytes) -> None:
    """Write ``data`` so that no reader ever sees half of it.

    Local: through a temporary file in the same folder and ``os.replace``; a crash never leaves
    half a file, and the temporary file is removed on failure. Object store: one upload of the whole
    object (an S3 PUT, or a multipart upload for large ones, is published only once complete), so
    there is no temporary object to clean up and no rename (which S3 does not have).
    """
    if is_remote(path):
        path.fs.pipe_file(path.path, bytes(data))
        return
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


def atomic_write_parquet(frame: Any, path: DataPath) -> None:
    """A pandas DataFrame to parquet, atomically."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write(path, buffer.getvalue())


def read_parquet(path: DataPath, columns: list[str] | None = None) -> Any:
    """A parquet file as a pandas DataFrame; an object is fetched whole in one GET (our files are
    small; parquet's many ranged reads would cost a request each)."""
    import pandas as pd

    source: Any = io.BytesIO(path.read_bytes()) if is_remote(path) else path
    return pd.read_parquet(source, columns=columns)


def move(source: DataPath, target: DataPath) -> None:
    """Move a file aside (same store). Local: ``os.replace``, atomic. Object store: copy, then delete
    the original, so a crash in between leaves two copies, never none."""
    if is_remote(source):
        source.fs.copy(source.path, target.path)
        source.fs.rm_file(source.path)
        return
    os.replace(source, target)


def safe_url(url: str) -> str:
    """The URL without credentials, query string or fragment (tokens often ride there)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with ``secrets`` and every secret of the process replaced by ``***``: the one
    redaction path (``redaction.redact``), kept here for the callers that name their own secrets."""
    from .redaction import redact as redact_all

    return redact_all(text, secrets)
