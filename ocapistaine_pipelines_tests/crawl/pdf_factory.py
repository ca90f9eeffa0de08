"""PDFs made for the tests and the benchmark (reportlab), each with the text a reader should get back.

The shapes are those of the town's documents: French prose with accents, a two-column bulletin, a
table of votes, a long by-law (30+ pages), a scanned page (an image, no text layer), a file protected
by a password, a file cut short. ``interleaved=True`` draws a two-column page line by line across both
columns (as many layout programs write them), so reading order depends on the extractor, not on the
order of the content stream.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

WORDS = (
    "délibération conseil municipal arrêté préfectoral église côte écluse façade sécurité été "
    "marché goélette crêperie île forêt fenêtre hôpital théâtre élève général ordonnée réunion "
    "compétence intercommunalité budget prévisionnel subvention équipement aménagement littoral "
    "commission contrôle financier rapport public Audierne Esquibien Poulgoazec Plouhinec Cornouaille "
    "Finistère maire adjoint conseillère vœu à où ça déjà garçon Noël cœur naïf dû"
).split()


@dataclass
class MadePdf:
    data: bytes
    text: str  # what a reader should get back, words in reading order
    pages: int


def sentence(rng: random.Random, words: int = 9) -> str:
    chosen = [rng.choice(WORDS) for _ in range(words)]
    return " ".join(chosen).capitalize() + "."


def _canvas(buffer, **kwargs):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    return Canvas(buffer, pagesize=A4, pageCompression=1, **kwargs)


def prose_pdf(pages: int = 1, seed: int = 0, title: str = "Délibération", **canvas_kwargs) -> MadePdf:
    """``pages`` pages of French prose, 40 lines each, one column."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    canvas = _canvas(buffer, **canvas_kwargs)
    canvas.setTitle(title)
    lines: list[str] = []
    for page in range(pages):
        canvas.setFont("Helvetica-Bold", 13)
        heading = f"{title} page {page + 1}"
        canvas.drawString(56, 800, heading)
        lines.append(heading)
        canvas.setFont("Helvetica", 10)
        for row in range(40):
            line = sentence(rng)
            canvas.drawString(56, 770 - row * 17, line)
            lines.append(line)
        canvas.showPage()
    canvas.save()
    return MadePdf(buffer.getvalue(), "\n".join(lines), pages)


def two_column_pdf(
    pages: int = 1,
    seed: int = 1,
    interleaved: bool = True,
    leading: float = 12.5,
    right: float = 310,
    words: int = 4,
) -> MadePdf:
    """A bulletin in two columns: the left column is read first, then the right one.
    ``leading`` (line spacing), ``right`` (where the right column starts) and ``words`` per line vary
    the layout, so a benchmark can use layouts the extractor settings were not chosen on."""
    rng = random.Random(seed)
    rows = int(700 // leading)
    buffer = io.BytesIO()
    canvas = _canvas(buffer)
    expected: list[str] = []
    for _ in range(pages):
        left = [sentence(rng, words) for _ in range(rows)]
        right_lines = [sentence(rng, words) for _ in range(rows)]
        canvas.setFont("Helvetica", 10)
        if interleaved:
            for row, (a, b) in enumerate(zip(left, right_lines)):
                canvas.drawString(50, 790 - row * leading, a)
                canvas.drawString(right, 790 - row * leading, b)
        else:
            for row, a in enumerate(left):
                canvas.drawString(50, 790 - row * leading, a)
            for row, b in enumerate(right_lines):
                canvas.drawString(right, 790 - row * leading, b)
        expected += left + right_lines
        canvas.showPage()
    canvas.save()
    return MadePdf(buffer.getvalue(), "\n".join(expected), pages)


def table_pdf(seed: int = 2, rows_count: int = 25) -> MadePdf:
    """A table of votes (reportlab platypus Table with a grid): rows read left to right."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

    rng = random.Random(seed)
    rows = [["Délibération", "Pour", "Contre", "Abstention", "Décision"]]
    for i in range(rows_count):
        rows.append(
            [
                f"n°{i + 1} {rng.choice(WORDS)}",
                str(rng.randint(5, 19)),
                str(rng.randint(0, 4)),
                str(rng.randint(0, 3)),
                rng.choice(["adoptée", "rejetée", "ajournée"]),
            ]
        )
    buffer = io.BytesIO()
    table = Table(rows)
    table.setStyle(
        TableStyle(
            [("GRID", (0, 0), (-1, -1), 0.5, colors.grey), ("FONTNAME", (0, 0), (-1, -1), "Helvetica")]
        )
    )
    SimpleDocTemplate(buffer, pagesize=A4).build([table])
    return MadePdf(buffer.getvalue(), "\n".join(" ".join(row) for row in rows), 1)


def image_only_pdf(pages: int = 2) -> MadePdf:
    """A scan: each page is one picture, no text layer."""
    from PIL import Image, ImageDraw
    from reportlab.lib.utils import ImageReader

    buffer = io.BytesIO()
    canvas = _canvas(buffer)
    for page in range(pages):
        image = Image.new("L", (400, 560), 255)
        draw = ImageDraw.Draw(image)
        for row in range(30):
            draw.line((20, 20 + row * 18, 380, 20 + row * 18), fill=80 + page, width=3)
        png = io.BytesIO()
        image.save(png, format="PNG")
        png.seek(0)
        canvas.drawImage(ImageReader(png), 40, 60, width=500, height=700)
        canvas.showPage()
    canvas.save()
    return MadePdf(buffer.getvalue(), "", pages)


def encrypted_pdf(password: str = "secret") -> MadePdf:
    """Opening needs a password (a user password, RC4 128 as reportlab writes it)."""
    from reportlab.lib.pdfencrypt import StandardEncryption

    made = prose_pdf(
        1,
        seed=3,
        title="Document protégé",
        encrypt=StandardEncryption(password, ownerPassword="owner-" + password, strength=128),
    )
    return made


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    """The first ``keep`` of a file, as a broken upload or an interrupted copy leaves it."""
    return data[: int(len(data) * keep)]


def decompression_bomb(megabytes: int = 500) -> bytes:
    """A valid one-page PDF whose content stream is a few MB of Flate that inflates to ``megabytes`` MB
    of drawing operators: a parser that inflates it whole needs that much memory."""
    import zlib

    packer = zlib.compressobj(1)
    operators = b"0 0 m 1 1 l S\n" * (1024 * 1024 // 14)
    stream = b"".join(packer.compress(operators) for _ in range(megabytes)) + packer.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
