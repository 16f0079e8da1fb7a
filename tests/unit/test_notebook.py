"""Jupyter notebooks to text (services/parser/core/notebook.py): cells in order, Markdown with
its headings, code, the outputs' text, never their pictures' base64 nor the JSON around them;
recognised at upload by their first key (services/common/media.py). nbformat's own test
notebooks (formats 4 and 3) are in the corpus."""

from __future__ import annotations

import json

import pytest

from services.common.media import NOTEBOOK, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from tests.fixtures.corpus import corpus_file

pytestmark = pytest.mark.unit


def notebook(*cells: dict[str, object]) -> bytes:
    return json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4}).encode()


def test_a_notebook_reads_its_cells_and_outputs_not_its_json() -> None:
    data = corpus_file("nbformat/test4.ipynb").read()
    assert sniff_media_type(data, "test4.ipynb") == NOTEBOOK
    parsed = extract(data, NOTEBOOK)
    assert parsed.title == "nbconvert latex test"
    assert [(h.level, h.title) for h in parsed.headings] == [
        (1, "nbconvert latex test"),
        (2, "Printed Using Python"),
        (2, "Pyout"),
        (3, "Image"),
    ]
    assert '"cell_type"' not in parsed.text
    assert "iVBORw0KGgo" not in parsed.text  # the PNG output's base64


def test_format_3_heading_cells_are_headings() -> None:
    parsed = extract(corpus_file("nbformat/test3.ipynb").read(), NOTEBOOK)
    assert [(h.level, h.title) for h in parsed.headings][:2] == [
        (1, "nbconvert latex test"),
        (2, "Printed Using Python"),
    ]


def test_outputs_read_as_printed_and_lines_keep_their_breaks() -> None:
    data = notebook(
        {"cell_type": "markdown", "source": ["# Levels", "", "Daily readings."]},
        {
            "cell_type": "code",
            "source": ["x = read()\n", "x"],
            "outputs": [
                {"output_type": "stream", "name": "stdout", "text": ["3.2 m\n"]},
                {"output_type": "execute_result", "data": {"text/html": "<b>high</b>"}},
                {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo="}},
                {"output_type": "error", "ename": "ValueError", "evalue": "no gauge"},
            ],
        },
    )
    assert extract(data, NOTEBOOK).text == (
        "Levels\n\nDaily readings.\n\nx = read()\nx\n3.2 m\n\nhigh\n\nValueError: no gauge"
    )


@pytest.mark.parametrize(
    "data",
    [
        b'{"cells": [{"cell_type": "code", "source": "x"',
        b'{"cells": 3, "nbformat": 4}',
        b'{"cells": [], "nbformat": 1' + b"0" * 5_000 + b"}",  # past Python's 4,300 digits
    ],
)
def test_a_broken_notebook_fails_saying_why(data: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        extract(data, NOTEBOOK)
    assert caught.value.code == "corrupt_file"
    assert "notebook" in str(caught.value)
