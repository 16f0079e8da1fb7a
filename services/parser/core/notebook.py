"""Jupyter notebooks (`.ipynb`, JSON) to text: their cells in order, Markdown cells read as
Markdown (headings kept; format 3's heading cells too), code cells as their code, then the
text their outputs printed.

Read as plain text, a notebook was indexed as its JSON: quotes, brackets, `"cell_type"` keys
and its pictures' base64. Outputs that are pictures are left out; a table an output shows as
HTML (a DataFrame) is read as HTML where it has no plain-text form. The standard library's
json parses (nbformat would validate the schema too, which a notebook needs not pass to be
read); versions 4 (`cells`) and 3 (`worksheets`) are read.
"""

from __future__ import annotations

import json
from typing import Any

from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ParseError, unreadable
from services.parser.core.html import feed_html
from services.parser.core.markdown import MAX_PARSED_CHARS, feed_markdown, titled
from services.parser.core.parsed import ParsedText
from services.parser.core.text import decode_text

_FIX = "save it again from Jupyter and upload again"
# An output's forms read as text, in order of preference
_PLAIN, _MARKDOWN, _HTML = "text/plain", "text/markdown", "text/html"


def extract_notebook(data: bytes) -> ParsedText:
    """The notebook's cells in order: Markdown, code, the outputs' text; the title is the
    first level-1 heading."""
    try:
        notebook = json.loads(decode_text(data))
    except (ValueError, RecursionError) as exc:  # a JSON error, a number past 4,300 digits
        raise unreadable("the notebook", exc, _FIX) from None
    cells = _cells(notebook)
    builder = TextBuilder()
    budget = MAX_PARSED_CHARS
    for cell in cells:
        if builder.full:
            break
        if not isinstance(cell, dict):
            continue
        source = _joined(cell.get("source", cell.get("input", "")))
        kind = cell.get("cell_type")
        if kind == "markdown":
            budget -= feed_markdown(source, builder, budget=budget)
            continue
        if kind == "heading":  # format 3: a cell of its own, with its level
            level = cell.get("level")
            builder.heading(source, level if isinstance(level, int) and 1 <= level <= 6 else 1)
            continue
        builder.add(source)
        for output in cell.get("outputs", []) if isinstance(cell.get("outputs"), list) else []:
            _add_output(output, builder)
    return titled(builder.build())


def _cells(notebook: Any) -> list[Any]:
    """The cells of a notebook of format 4 (`cells`) or 3 (each worksheet's `cells`)."""
    if not isinstance(notebook, dict):
        raise ParseError(CORRUPT_FILE, f"the notebook is not a JSON object; {_FIX}")
    if isinstance(notebook.get("cells"), list):
        return list(notebook["cells"])
    sheets = notebook.get("worksheets")
    if isinstance(sheets, list):
        return [c for s in sheets if isinstance(s, dict) for c in s.get("cells", []) or []]
    raise ParseError(CORRUPT_FILE, f"the notebook has no cells; {_FIX}")


def _add_output(output: Any, builder: TextBuilder) -> None:
    """An output's text: what a stream printed, an error's name and message, a result's
    plain text (else its Markdown, else its HTML); pictures left out."""
    if not isinstance(output, dict):
        return
    kind = output.get("output_type")
    if kind == "stream":
        builder.add(_joined(output.get("text", "")), tight=True)
    elif kind in {"error", "pyerr"}:
        builder.add(f"{output.get('ename', '')}: {output.get('evalue', '')}".strip(": "))
    data = output.get("data", output)  # format 3 kept the forms on the output itself
    if not isinstance(data, dict) or kind not in {"execute_result", "display_data", "pyout"}:
        return
    if _PLAIN in data or "text" in data:
        builder.add(_joined(data.get(_PLAIN, data.get("text", ""))), tight=True)
    elif _MARKDOWN in data:
        feed_markdown(_joined(data[_MARKDOWN]), builder, budget=MAX_PARSED_CHARS)
    elif _HTML in data or "html" in data:
        feed_html(_joined(data.get(_HTML, data.get("html", ""))), builder)


def _joined(value: Any) -> str:
    """A notebook string: one string, or a list of lines, each ending in a line break but
    the last (formats 2 and 3 written by older tools left the breaks out)."""
    if not isinstance(value, list):
        return value if isinstance(value, str) else ""
    lines = [part for part in value if isinstance(part, str)]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines[:-1]) + (
        lines[-1] if lines else ""
    )
