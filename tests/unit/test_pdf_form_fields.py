"""A filled-in PDF form reads with its values: a page's text leaves out its form fields, so a
form read as its blank. Text and choice fields count, once each, their value inherited from a
parent field where the widget has none; buttons, hidden fields and broken annotations do not,
and a broken one costs only the form values. Comments people left on a page (notes, text
boxes, highlights' notes) are read the same way, once each; tooltips are not."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from services.parser.core.extract import extract
from services.parser.core.pdf import MAX_FIELD_DEPTH

pytestmark = pytest.mark.unit

PDF = "application/pdf"


def widget(value: object = None, kind: str | None = "/Tx", flags: int = 0) -> DictionaryObject:
    field = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/Rect"): ArrayObject([FloatObject(0)] * 4),
            NameObject("/F"): NumberObject(flags),
        }
    )
    if kind is not None:
        field[NameObject("/FT")] = NameObject(kind)
    if value is not None:
        field[NameObject("/V")] = value
    return field


def form(*widgets: DictionaryObject, loop: int | None = None) -> bytes:
    """A one-page PDF, no page text, whose annotations are `widgets` (widget number `loop`
    its own parent)."""
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    references = [writer._add_object(w) for w in widgets]  # pypdf has no public way
    if loop is not None:
        widgets[loop][NameObject("/Parent")] = references[loop]
    page[NameObject("/Annots")] = ArrayObject(references)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def text(value: str) -> TextStringObject:
    return TextStringObject(value)


def test_the_values_filled_into_text_and_choice_fields_are_read() -> None:
    parent = DictionaryObject(
        {NameObject("/FT"): NameObject("/Tx"), NameObject("/V"): text("From the parent")}
    )
    kid = widget(kind=None)
    kid[NameObject("/Parent")] = parent
    data = form(
        widget(text("Ada Lovelace")),
        widget(text("Line one\rLine two")),
        widget(ArrayObject([text("Kafka"), text("Postgres")]), kind="/Ch"),
        widget(NameObject("/Yes"), kind="/Btn"),  # a ticked box: a state, not text
        widget(text("hidden value"), flags=2),
        widget(text("not shown"), flags=32),
        widget(text("Ada Lovelace")),  # the same field shown twice: once
        kid,
    )
    assert extract(data, PDF).text == (
        "Ada Lovelace\nLine one\nLine two\nKafka, Postgres\nFrom the parent"
    )


def test_a_loop_of_parents_ends_the_search_for_a_value() -> None:
    # The search stops after MAX_FIELD_DEPTH parents; the loop's field has no type, so no text.
    assert MAX_FIELD_DEPTH < 100
    data = form(widget(text("Before the loop")), widget(kind=None), loop=1)
    assert extract(data, PDF).text == "Before the loop"


def test_a_broken_annotation_ends_the_form_values_not_the_document() -> None:
    data = form(
        widget(text("Read")), widget(text("Flags not a number"), flags=4), widget(text("After"))
    )
    broken = data.replace(b"/F 4", b"/F /X")  # int() of a name raises
    assert broken != data
    assert extract(broken, PDF).text == "Read"


def annotation(kind: str, contents: str, flags: int = 0) -> DictionaryObject:
    return DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject(kind),
            NameObject("/Rect"): ArrayObject([FloatObject(0)] * 4),
            NameObject("/F"): NumberObject(flags),
            NameObject("/Contents"): text(contents),
        }
    )


def test_comments_people_left_on_a_page_are_read_once_but_not_tooltips() -> None:
    # Apache Tika's testPopupAnnotation.pdf and pdf.js's annotation files: a reviewer's
    # notes, a text box typed onto a scan, ended no_text or were missing from the text.
    data = form(
        annotation("/Text", "Check clause 4 with legal."),
        annotation("/Popup", "Check clause 4 with legal."),  # shows its parent's note
        annotation("/FreeText", "Received 1 Dec 2026"),
        annotation("/Highlight", "Why this date?"),
        annotation("/Link", "Opens the website"),  # a tooltip, not a comment
        annotation("/Text", "A hidden note", flags=2),
        widget(text("Ada Lovelace")),
    )
    assert extract(data, PDF).text == (
        "Check clause 4 with legal.\nReceived 1 Dec 2026\nWhy this date?\nAda Lovelace"
    )
