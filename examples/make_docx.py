"""Write examples/tea.docx: a short article on tea cultivation, made with python-docx."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import docx

TITLE = "Tea Cultivation"
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Where Tea Grows",
        (
            "All true tea comes from one evergreen shrub, Camellia sinensis. It grows best in "
            "warm, humid climates with acidic, well-drained soil and plenty of rain.",
            "The finest leaves are picked on misty hillside tea gardens in Darjeeling, where "
            "the cool mountain air slows the growth of the bushes and concentrates their flavour.",
        ),
    ),
    (
        "Plucking and Processing",
        (
            "Pluckers pick two leaves and a bud from each shoot every one or two weeks during "
            "the growing season.",
            "Green tea is heated soon after picking to stop oxidation, while black tea is "
            "withered, rolled and left to oxidise until the leaves turn a coppery brown.",
        ),
    ),
)


def build_docx(target: Path) -> None:
    """Write the tea article to `target` with a Title, Heading 1 sections and a table."""
    document = docx.Document()
    document.core_properties.title = TITLE
    fixed = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    document.core_properties.created = fixed
    document.core_properties.modified = fixed
    document.add_heading(TITLE, level=0)
    for heading, paragraphs in SECTIONS:
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    table = document.add_table(rows=2, cols=2)
    for row, (kind, note) in zip(
        table.rows, (("Green tea", "not oxidised"), ("Black tea", "fully oxidised")), strict=True
    ):
        row.cells[0].text = kind
        row.cells[1].text = note
    document.save(str(target))


def main() -> None:
    """Write tea.docx next to this script."""
    target = Path(__file__).with_name("tea.docx")
    build_docx(target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
