"""Charts' titles and labels in DOCX, PPTX and XLSX (services/parser/core/office.py
`chart_lines`): the libraries read no chart text. Real charts from Apache Tika's tests are in
the corpus; here charts are written with python-pptx and openpyxl."""

from __future__ import annotations

import io

import openpyxl
import pptx
import pytest
from openpyxl.chart import BarChart, Reference
from pptx.chart.data import CategoryChartData
from pptx.enum.chart import XL_CHART_TYPE
from pptx.util import Inches

from services.common.media import PPTX, XLSX
from services.parser.core.extract import extract
from services.parser.core.office import MAX_CHART_LABELS, chart_lines, shape_lines
from tests.fixtures.documents import rezipped

pytestmark = pytest.mark.unit


def deck_with_chart() -> bytes:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Gauges"
    data = CategoryChartData()
    data.categories = ["Weir", "Lock", "Mill race"]
    data.add_series("Level 2026", (3.25, 1.5, 0.75))
    data.add_series("Level 2025", (2.5, 1.25, 0.5))
    frame = slide.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(2), Inches(6), Inches(4), data
    )
    frame.chart.has_title = True
    frame.chart.chart_title.text_frame.text = "River levels by station"
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def test_a_slides_chart_gives_its_title_and_its_data() -> None:
    # A slide's chart holds the only copy of its numbers (docling's and markitdown's tests
    # expect them; they were left out)
    parsed = extract(deck_with_chart(), PPTX)
    assert parsed.text == (
        "Gauges\n\nRiver levels by station\n\tLevel 2026\tLevel 2025\n"
        "Weir\t3.25\t2.5\nLock\t1.5\t1.25\nMill race\t0.75\t0.5"
    )


def test_a_workbooks_chart_title_follows_its_sheets() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Rain"
    for row in (("Month", "mm"), ("March", 61), ("April", 48)):
        sheet.append(row)
    chart = BarChart()
    chart.title = "Rainfall by month"
    chart.add_data(Reference(sheet, min_col=2, min_row=1, max_row=3), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=3))
    sheet.add_chart(chart, "D2")
    buffer = io.BytesIO()
    workbook.save(buffer)
    text = extract(buffer.getvalue(), XLSX).text
    assert text.startswith("Rain\n\nMonth\tmm\nMarch\t61\nApril\t48")
    assert text.endswith("Rainfall by month")


SHAPES = (  # in openpyxl's drawing part the spreadsheet-drawing namespace is the default one
    '<twoCellAnchor><from/><to/><sp><txBody><a:p xmlns:a="{a}"><a:r><a:t>Gauges read at </a:t>'
    '</a:r><a:r><a:t>dawn.</a:t></a:r></a:p><a:p xmlns:a="{a}"><a:r><a:t>Estimates in grey.'
    "</a:t></a:r></a:p></txBody></sp></twoCellAnchor><twoCellAnchor><from/><to/><grpSp><sp>"
    '<txBody><a:p xmlns:a="{a}"><a:r><a:t>Grouped callout</a:t></a:r></a:p></txBody></sp>'
    "</grpSp></twoCellAnchor></wsDr>"
).format(a="http://schemas.openxmlformats.org/drawingml/2006/main")


def test_a_workbooks_text_boxes_come_before_its_charts() -> None:
    # openpyxl writes the chart's drawing part; the text boxes are added to it by hand
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(("Month", "mm"))
    sheet.append(("March", 61))
    chart = BarChart()
    chart.title = "Rainfall"
    chart.add_data(Reference(sheet, min_col=2, min_row=1, max_row=2), titles_from_data=True)
    sheet.add_chart(chart, "D2")
    buffer = io.BytesIO()
    workbook.save(buffer)
    drawn = rezipped(
        buffer.getvalue(),
        lambda name, part: (
            part.replace(b"</wsDr>", SHAPES.encode())
            if name == "xl/drawings/drawing1.xml"
            else part
        ),
    )
    text = extract(drawn, XLSX).text
    assert text.endswith(
        "March\t61\n\nGauges read at dawn.\nEstimates in grey.\nGrouped callout\n\nRainfall"
    )


def test_a_drawing_that_is_not_xml_gives_nothing() -> None:
    assert shape_lines(b"<xdr:wsDr") == []


def test_a_chart_that_is_not_xml_gives_nothing() -> None:
    assert chart_lines(b"<c:chartSpace") == []


def test_labels_are_read_to_a_bound() -> None:
    points = "".join(f"<c:pt><c:v>label {i}</c:v></c:pt>" for i in range(MAX_CHART_LABELS + 5))
    chart = (
        '<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart">'
        f"<c:chart><c:plotArea><c:barChart><c:ser><c:cat><c:strRef><c:strCache>{points}"
        "</c:strCache></c:strRef></c:cat></c:ser></c:barChart></c:plotArea></c:chart>"
        "</c:chartSpace>"
    )
    [categories] = chart_lines(chart.encode())
    assert categories.count("label") == MAX_CHART_LABELS


C = 'xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart"'


def cache(tag: str, values: list[str], start: int = 0) -> str:
    points = "".join(
        f'<c:pt idx="{start + i}"><c:v>{value}</c:v></c:pt>' for i, value in enumerate(values)
    )
    return f"<c:{tag}><c:numRef><c:numCache>{points}</c:numCache></c:numRef></c:{tag}>"


def chart(*series: str) -> bytes:
    return (
        f"<c:chartSpace {C}><c:chart><c:plotArea><c:scatterChart>{''.join(series)}"
        "</c:scatterChart></c:plotArea></c:chart></c:chartSpace>"
    ).encode()


def test_a_scatter_charts_points_and_excels_float_noise() -> None:
    series = (
        '<c:ser><c:tx><c:strRef><c:strCache><c:pt idx="0"><c:v>Flow</c:v></c:pt>'
        "</c:strCache></c:strRef></c:tx>"
        + cache("xVal", ["1", "2"])
        + cache("yVal", ["2.4000000000000004", "1E3"])
        + "</c:ser>"
    )
    assert chart_lines(chart(series), values=True) == ["\tFlow", "1\t2.4", "2\t1000"]


def test_a_workbooks_chart_keeps_to_its_labels() -> None:
    series = "<c:ser>" + cache("cat", ["Weir"]) + cache("val", ["3.25"]) + "</c:ser>"
    assert chart_lines(chart(series)) == ["Weir"]  # its numbers are the sheet's cells


def test_points_are_read_to_a_bound() -> None:
    many = ["1"] * (MAX_CHART_LABELS + 5)
    series = "<c:ser>" + cache("cat", many) + cache("val", many) + "</c:ser>"
    lines = chart_lines(chart(series), values=True)
    assert len(lines) - 1 <= MAX_CHART_LABELS
