"""Write examples/photosynthesis.pdf: a minimal two-page PDF built by hand."""

from __future__ import annotations

import textwrap
from pathlib import Path

TITLE = "Photosynthesis in Plants"
PAGES: tuple[tuple[str, ...], ...] = (
    (
        "Photosynthesis in Plants",
        "Photosynthesis is the process by which green plants turn light into chemical energy. "
        "Inside the chloroplasts of leaf cells, chlorophyll molecules capture sunlight in the "
        "thylakoid membranes and use its energy to split water into oxygen, protons and "
        "electrons.",
        "The oxygen we breathe is released as a by-product of this light-dependent stage. "
        "The electrons travel along an electron transport chain that pumps protons and drives "
        "ATP synthase, while NADPH is formed at the end of the chain.",
    ),
    (
        "The Calvin Cycle",
        "In the stroma, the Calvin cycle fixes carbon dioxide from the air. The enzyme RuBisCO "
        "attaches each carbon dioxide molecule to ribulose bisphosphate, and the energy stored "
        "in ATP and NADPH turns the products into three-carbon sugars.",
        "Plants use these sugars to build glucose, starch and cellulose, which feed the plant "
        "and, through food chains, almost every animal on Earth.",
    ),
)
FONT_SIZE = 12
LEADING = 16
WRAP_CHARS = 85


def _escape(text: str) -> str:
    """Escape a string for a PDF literal string."""
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content_stream(paragraphs: tuple[str, ...]) -> bytes:
    """Return a page content stream that writes the heading and wrapped paragraphs."""
    heading, *body = paragraphs
    ops = ["BT", "/F1 18 Tf", f"{LEADING + 6} TL", "72 740 Td", f"({_escape(heading)}) Tj", "T*"]
    ops += [f"/F1 {FONT_SIZE} Tf", f"{LEADING} TL"]
    for paragraph in body:
        ops += [f"({_escape(line)}) '" for line in textwrap.wrap(paragraph, WRAP_CHARS)]
        ops.append("T*")
    ops.append("ET")
    return ("\n".join(ops) + "\n").encode("latin-1")


def build_pdf() -> bytes:
    """Return the bytes of the two-page PDF with a correct cross-reference table."""
    page_ids = [4 + 2 * i for i in range(len(PAGES))]
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(PAGES)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for pid, paragraphs in zip(page_ids, PAGES, strict=True):
        stream = _content_stream(paragraphs)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {pid + 1} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"endstream")
    info_id = len(objects) + 1
    objects.append(f"<< /Title ({_escape(TITLE)}) /Producer (Sluice make_pdf.py) >>".encode())

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n"
        f"startxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return bytes(out)


def main() -> None:
    """Write photosynthesis.pdf next to this script."""
    target = Path(__file__).with_name("photosynthesis.pdf")
    target.write_bytes(build_pdf())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
