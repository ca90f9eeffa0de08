"""Text of one PDF file with pdfminer.six, run inside an extraction worker process (``pdf_workers``).

Why pdfminer.six (``benchmarks/pdf_extractors.py``, ``docs/crawl.md``): it is the one of the compared
libraries that puts a two-column page in reading order (it groups characters into lines and boxes by
position, instead of following the drawing order of the content stream as pypdf and PDFium do), with
accents intact and table rows kept together (``boxes_flow=None``: boxes in top-left order). It is
~10x slower than pypdf, which a night of new documents easily affords.

Returns a plain dict (it crosses a process boundary): ``status`` is ``stored``, ``no_text_layer``
(pages but no text: a scan), ``encrypted``, ``truncated`` (the file is cut: no ``%%EOF``) or
``damaged`` (unreadable for another reason), with ``reason``, ``pages``, ``pages_without_text``,
``characters`` and ``page_texts``.
"""

from __future__ import annotations

from typing import Any

EXTRACTOR = "pdfminer.six"


def extractor_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pdfminer.six")
    except PackageNotFoundError:  # pragma: no cover - the dependency is pinned
        return "unknown"


def warm_up() -> None:
    """Import the library once, before the first document's clock starts."""
    import pdfminer.high_level  # noqa: F401
    import pdfminer.layout  # noqa: F401


def is_cut_short(path: str) -> bool:
    """A complete PDF ends with ``%%EOF`` (give or take trailing bytes); a cut one does not."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 2048))
        return b"%%EOF" not in handle.read()


def extract(path: str, max_pages: int = 0) -> dict[str, Any]:
    """The text of the PDF at ``path``, page by page (``max_pages`` 0: every page)."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextContainer
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    if is_cut_short(path):
        return _bad("truncated", "the file is cut short (no %%EOF marker at its end)")
    texts: list[str] = []
    try:
        for page in extract_pages(path, laparams=LAParams(boxes_flow=None), maxpages=max_pages):
            texts.append(
                "".join(item.get_text() for item in page if isinstance(item, LTTextContainer)).strip()
            )
    except PDFPasswordIncorrect:
        return _bad("encrypted", "the file needs a password to be opened")
    except PDFEncryptionError as error:
        return _bad("encrypted", f"unsupported encryption: {error}")
    except MemoryError:
        return _bad("damaged", "the parser ran out of its memory limit")
    except Exception as error:  # noqa: BLE001 - any parser error is this document's problem, not the night's
        return _bad(
            "damaged", f"unreadable PDF ({type(error).__name__}: {str(error)[:200]})", pages=len(texts)
        )
    characters = sum(len(text) for text in texts)
    empty = sum(1 for text in texts if not text)
    if not texts:
        return _bad("damaged", "the file has no pages")
    status = "stored" if characters else "no_text_layer"
    reason = None if characters else f"no text layer on any of its {len(texts)} pages (a scan?)"
    return {
        "status": status,
        "reason": reason,
        "pages": len(texts),
        "pages_without_text": empty,
        "characters": characters,
        "page_texts": texts if characters else [],
    }


def _bad(status: str, reason: str, pages: int = 0) -> dict[str, Any]:
    return {
        "status": status,
        "reason": reason,
        "pages": pages,
        "pages_without_text": 0,
        "characters": 0,
        "page_texts": [],
    }
