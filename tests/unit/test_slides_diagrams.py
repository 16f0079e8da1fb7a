"""SmartArt text: python-pptx reads no diagram, so the parser reads the diagram's data part.
Its nodes count, its document, transition and presentation points do not; a diagram whose
data part is missing or broken is left out and the slide still reads."""

from __future__ import annotations

import io

import pptx
import pytest

from services.parser.core.extract import extract
from tests.fixtures.documents import rezipped

pytestmark = pytest.mark.unit

PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DGM = "http://schemas.openxmlformats.org/drawingml/2006/diagram"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
FRAME = (
    f'<p:graphicFrame xmlns:a="{A}"><p:nvGraphicFramePr><p:cNvPr id="9" name="Diagram"/>'
    '<p:cNvGraphicFramePr/><p:nvPr/></p:nvGraphicFramePr><p:xfrm><a:off x="0" y="0"/>'
    f'<a:ext cx="1" cy="1"/></p:xfrm><a:graphic><a:graphicData uri="{DGM}">'
    f'<dgm:relIds xmlns:dgm="{DGM}" xmlns:r="{R}" r:dm="rIdData" r:lo="rIdData" r:qs="rIdData"'
    ' r:cs="rIdData"/></a:graphicData></a:graphic></p:graphicFrame>'
)


def point(model_id: int, text: str, kind: str | None = None) -> str:
    kind_attribute = f' type="{kind}"' if kind else ""
    return (
        f'<dgm:pt modelId="{model_id}"{kind_attribute}><dgm:t><a:bodyPr/>'
        f"<a:p><a:r><a:t>{text}</a:t></a:r></a:p></dgm:t></dgm:pt>"
    )


def data_model(*points: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><dgm:dataModel xmlns:dgm="{DGM}"'
        f' xmlns:a="{A}"><dgm:ptLst>{"".join(points)}</dgm:ptLst></dgm:dataModel>'
    ).encode()


def deck_with_diagram(data: bytes | None) -> bytes:
    """A one-slide deck titled "Org chart" holding a SmartArt frame whose data part is
    `data` (None: the part is missing)."""
    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[5]).shapes.title.text = "Org chart"
    buffer = io.BytesIO()
    deck.save(buffer)
    relationship = (
        f'<Relationship Id="rIdData" Target="../diagrams/data1.xml"'
        f' Type="{R}/diagramData"/></Relationships>'
    )
    override = (
        '<Override PartName="/ppt/diagrams/data1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.drawingml.diagramData+xml"/></Types>'
    )
    edits = {
        "ppt/slides/slide1.xml": (b"</p:spTree>", FRAME.encode() + b"</p:spTree>"),
        "ppt/slides/_rels/slide1.xml.rels": (b"</Relationships>", relationship.encode()),
        "[Content_Types].xml": (b"</Types>", override.encode()),
    }

    def edit(name: str, part: bytes) -> bytes:
        return part.replace(*edits[name]) if name in edits else part

    added = {} if data is None else {"ppt/diagrams/data1.xml": data}
    return rezipped(buffer.getvalue(), edit, added)


def test_a_diagrams_nodes_are_read_its_other_points_are_not() -> None:
    data = data_model(
        point(0, "the diagram itself", "doc"),
        point(1, "President"),
        point(2, "from President to VP", "parTrans"),
        point(3, "VP - Marketing"),
        point(4, "Assistant", "asst"),
        point(5, "a drawn copy", "pres"),
    )
    assert extract(deck_with_diagram(data), PPTX).text == (
        "Org chart\n\nPresident\nVP - Marketing\nAssistant"
    )


@pytest.mark.parametrize(
    "data", [None, b"<dgm:dataModel not xml"], ids=["data part missing", "data part broken"]
)
def test_a_diagram_that_cannot_be_read_is_left_out(data: bytes | None) -> None:
    assert extract(deck_with_diagram(data), PPTX).text == "Org chart"
