"""Shared opening of ZIP-based office documents: archive limits first, then one error shape."""

from __future__ import annotations

import io
import math
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import unquote

from lxml import etree

from services.common.archive import ArchiveTooLargeError, inspect_archive
from services.parser.core.errors import ARCHIVE_TOO_LARGE, CORRUPT_FILE, ParseError, unreadable
from services.parser.core.quiet import quiet
from services.parser.core.text import one_line

# ISO/IEC 29500 Strict (Excel's and Word's "Strict Open XML" format) names its namespaces and
# relationship types under purl.oclc.org, Transitional under schemas.openxmlformats.org, and
# openpyxl, python-docx and python-pptx know only the second: a Strict workbook opened with
# no sheet at all, and its text was lost. No library converts one into the other; for the
# parts the text comes from the renaming is the whole difference (dates written ISO 8601 in
# cells, the other difference, openpyxl reads).
_STRICT = re.compile(rb"http://purl\.oclc\.org/ooxml/(\w+)/(\w+)(/\w+)?")
_RENAMED = {
    b"extendedProperties": b"extended-properties",
    b"customProperties": b"custom-properties",
    b"/extendedProperties": b"/extended-properties",
    b"/customProperties": b"/custom-properties",
}

T = TypeVar("T")
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CONTENT_TYPES = "[Content_Types].xml"
_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
CHART = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_XDR = "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}"
# Labels read of one chart at most (a real chart has tens; a chart over a whole column of a
# sheet caches every row's label).
MAX_CHART_LABELS = 10_000
_COMMENTS = frozenset({"cm", "comment", "reply"})  # the elements one comment is
_XML = etree.XMLParser(resolve_entities=False, no_network=True)


@contextmanager
def open_package(data: bytes, kind: str, fix: str) -> Iterator[bytes]:
    """Refuse a decompression bomb before anything unpacks, then run the body with whatever
    the library raises on a broken file turned into corrupt_file.

    Yields the package to open (`readable`: `data`, or a repaired copy).
    `kind` names the format ("DOCX"), `fix` tells a person what to do ("save it again ...").
    """
    try:
        inspect_archive(data)
        with quiet("openpyxl"):
            yield readable(data)
    except ArchiveTooLargeError as exc:
        raise ParseError(ARCHIVE_TOO_LARGE, exc.message) from exc
    except (ParseError, MemoryError):
        raise
    except Exception as exc:  # zip, XML, key and value errors on broken files
        raise unreadable(f"the {kind} file", exc, f"{fix} and upload again") from exc


def main_part(opc: Any, package: bytes, expected: type[T], what: str, fix: str) -> T:
    """The main part of `package` opened with `opc` (python-docx's or python-pptx's
    `Package`), refused as corrupt_file unless the library read it as an `expected` part
    (`what` the file should be: "a Word document"; `fix`: what to do about it)."""
    part = opc.open(io.BytesIO(package)).main_document_part
    if not isinstance(part, expected):
        raise ParseError(
            CORRUPT_FILE,
            f"the file is not {what} (its main part is {part.content_type}); {fix} and"
            " upload again",
        )
    return part


def core_title(document: Any) -> str:
    """The title in a python-docx or python-pptx document's core properties, on one line; ""
    where it has none, or none the library can read (a core-properties part under another
    content type is loaded as a plain part, without `core_properties`)."""
    try:
        return one_line(document.core_properties.title or "")
    except AttributeError:
        return ""


def readable(data: bytes) -> bytes:
    """The package as the libraries can read it: parts named as the format names them
    (`/`, not `\\`, between folders; `[Content_Types].xml` in its capitals), ISO Strict
    names renamed to Transitional ones, and its relationships pointed at the parts as the
    archive names them, or left out where it lacks them (python-docx, python-pptx and
    openpyxl load every related part, by its name as written, and give up on a missing one:
    Word's own templates name `docProps/Thumbnail.jpeg` in lower case, a tool wrote a
    hyperlink to a bookmark as a part, another wrote every name with backslashes and in
    lower case). `data` itself when none applies."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        renamed = {name: _canonical(name) for name in archive.namelist()}
        names = {name.lower(): name for name in renamed.values()}
        relationships = {
            renamed[entry.filename]: archive.read(entry)
            for entry in archive.infolist()
            if entry.filename.endswith(".rels")
        }
        strict = any(_STRICT.search(part) for part in relationships.values())
        repaired = {
            name: kept
            for name, part in relationships.items()
            if (kept := _repaired_relationships(name, part, names)) is not None
        }
        types = next((old for old, new in renamed.items() if new == _CONTENT_TYPES), None)
        if types is not None and (kept := _repaired_types(archive.read(types), names)):
            repaired[_CONTENT_TYPES] = kept
        moved = any(old != new for old, new in renamed.items())
        if not strict and not repaired and not moved:
            return data

        def part(entry: zipfile.ZipInfo) -> bytes:
            content = repaired.get(renamed[entry.filename]) or archive.read(entry)
            if strict and entry.filename.endswith((".xml", ".rels")):
                content = _STRICT.sub(_transitional_name, content)
            return content

        return repacked(archive, part, renamed)


def repacked(
    archive: zipfile.ZipFile,
    part: Callable[[zipfile.ZipInfo], bytes | None],
    renamed: dict[str, str] | None = None,
) -> bytes:
    """A new (uncompressed) archive of the entries of `archive`, each holding what `part`
    gives for it, under its name in `renamed` if there; an entry it gives None for is left
    out."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for entry in archive.infolist():
            content = part(entry)
            if content is not None:
                name = (renamed or {}).get(entry.filename, entry.filename)
                target.writestr(name, content)
    return out.getvalue()


def _canonical(name: str) -> str:
    """A part's name as the format writes it: folders apart by `/`, the content-types part
    as `[Content_Types].xml` (the libraries look both up as written)."""
    name = name.replace("\\", "/")
    return _CONTENT_TYPES if name.lower() == _CONTENT_TYPES.lower() else name


def _repaired_relationships(name: str, part: bytes, names: dict[str, str]) -> bytes | None:
    """The relationships part `name` with each internal target the archive holds under
    other capitals named as the archive does (part names are case-insensitive; the libraries
    look them up as written), and without those the archive lacks (`names`: each archive
    name by its lower case). None when nothing changes, or when the part is not readable XML
    (the library then says what is wrong)."""
    try:
        root = etree.fromstring(part, _XML)
    except etree.XMLSyntaxError:
        return None
    folder = posixpath.dirname(posixpath.dirname(name))  # "word/_rels/x.rels" -> "word"
    changed = False
    for relationship in list(root.iter(f"{_RELS}Relationship")):
        if relationship.get("TargetMode") == "External":
            continue
        target = unquote(relationship.get("Target", ""))
        if target.startswith("/"):
            path = target.lstrip("/")
        else:
            path = posixpath.normpath(posixpath.join(folder, target))
        stored = names.get(path.lower())
        if stored is None:
            relationship.getparent().remove(relationship)
            changed = True
        elif stored != path:
            relationship.set("Target", f"/{stored}")
            changed = True
    if not changed:
        return None
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True))


def _repaired_types(part: bytes, names: dict[str, str]) -> bytes | None:
    """The content-types part with each part it names (`Override PartName`) named as the
    archive does, where the archive holds it under other capitals (openpyxl opens the shared
    strings by the name written there). None when nothing changes or it is not XML."""
    try:
        root = etree.fromstring(part, _XML)
    except etree.XMLSyntaxError:
        return None
    changed = False
    for override in root.iter(f"{_TYPES}Override"):
        written = unquote(override.get("PartName", "")).lstrip("/")
        stored = names.get(written.lower())
        if stored is not None and stored != written:
            override.set("PartName", f"/{stored}")
            changed = True
    if not changed:
        return None
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True))


def _transitional_name(match: re.Match[bytes]) -> bytes:
    area, name, kind = match[1], match[2], match[3] or b""
    name, kind = _RENAMED.get(name, name), _RENAMED.get(kind, kind)
    return b"http://schemas.openxmlformats.org/%s/2006/%s%s" % (area, name, kind)


def chart_lines(part: bytes, *, values: bool = False) -> list[str]:
    """The words of a chart part (`c:chartSpace`, a chart in a DOCX, PPTX or XLSX): its
    title and its axes' titles a line each, then, with `values`, its data as the chart caches
    it: a line of its series' names, then a line per category, its label and each series'
    value, tab-separated (a slide's or a document's chart holds the only copy of its numbers:
    "how many in 2021?" is answered there); else, and where it caches no values, its series'
    names on one line and its category labels on one, each once (a workbook's chart draws
    cells its sheets already give). The libraries read no chart text: a chart's title, labels
    and data were lost. A chart that is not readable XML gives nothing."""
    try:
        root = etree.fromstring(part, _XML)
    except etree.XMLSyntaxError:
        return []
    lines = [_title_words(title) for title in root.iter(f"{CHART}title")]
    table = _data_lines(root) if values else []
    if table:
        return [line for line in lines if line] + table
    series = _labels(tx for ser in root.iter(f"{CHART}ser") for tx in ser.iter(f"{CHART}tx"))
    categories = _labels(root.iter(f"{CHART}cat"))
    lines += [", ".join(series), ", ".join(categories)]
    return [line for line in lines if line]


def _data_lines(root: Any) -> list[str]:
    """A chart's cached data as tab-separated lines: the series' names, then per category
    its label and the series' values; [] when it caches no values. At most
    MAX_CHART_LABELS points are read."""
    names: list[str] = []
    columns: list[dict[int, str]] = []
    categories: dict[int, str] = {}
    budget = MAX_CHART_LABELS
    for series in root.iter(f"{CHART}ser"):
        name = series.find(f"{CHART}tx")
        names.append(" ".join(_values(name)) if name is not None else "")
        for tag in ("cat", "xVal"):
            labels = _points(series.find(f"{CHART}{tag}"), budget)
            budget -= len(labels)
            for index, label in labels.items():
                categories.setdefault(index, label)
        points = {}
        for tag in ("val", "yVal"):
            points.update(_points(series.find(f"{CHART}{tag}"), budget))
        budget -= len(points)
        columns.append({index: _number(value) for index, value in points.items()})
    rows = sorted({index for column in columns for index in column})
    if not rows:
        return []
    lines = ["\t".join(["", *names]).rstrip("\t")]
    for index in rows:
        cells = [categories.get(index, ""), *(column.get(index, "") for column in columns)]
        lines.append("\t".join(cells).rstrip("\t"))
    return lines


def _points(holder: Any, budget: int) -> dict[int, str]:
    """The cached points (`c:pt`, by their `idx`) under a chart's category or value element;
    the levels of a multi-level category joined by a space. At most `budget` points."""
    points: dict[int, list[str]] = {}
    if holder is None:
        return {}
    for point in holder.iter(f"{CHART}pt"):
        if budget <= 0:
            break
        budget -= 1
        index = point.get("idx", "")
        value = point.find(f"{CHART}v")
        if index.isdecimal() and value is not None:
            points.setdefault(int(index), []).append(one_line(value.text or ""))
    return {index: " ".join(labels) for index, labels in points.items()}


def _number(text: str) -> str:
    """A cached value as the chart shows it: 2.4 where Excel cached 2.4000000000000004."""
    try:
        value = float(text)
    except ValueError:
        return text
    return format(value, ".15g") if math.isfinite(value) else text


def _paragraph_words(paragraph: Any) -> str:
    """A DrawingML paragraph's (`a:p`) text: its runs' together."""
    return "".join(t.text or "" for t in paragraph.iter(f"{_A}t"))


def _title_words(title: Any) -> str:
    """A chart or axis title's words: its rich text's paragraphs, else its cached value."""
    paragraphs = [_paragraph_words(p) for p in title.iter(f"{_A}p")]
    words = " ".join(paragraphs) if paragraphs else " ".join(_values(title))
    return one_line(words)


def _labels(holders: Iterable[Any]) -> list[str]:
    """The text labels cached under `holders` (series names, categories), each once, at
    most MAX_CHART_LABELS looked at; numbers (a numeric axis) left out."""
    labels: dict[str, None] = {}
    looked = 0
    for holder in holders:
        for value in _values(holder):
            looked += 1
            if looked > MAX_CHART_LABELS:
                return list(labels)
            if value and not _is_number(value):
                labels[value] = None
    return list(labels)


def _values(holder: Any) -> Iterator[str]:
    """The cached text values (`c:v`) under a chart element, on one line each."""
    for value in holder.iter(f"{CHART}v"):
        yield one_line(value.text or "")


def _is_number(text: str) -> bool:
    """True for a label that is a number (a value axis, a year axis)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def comment_lines(part: bytes) -> list[str]:
    """The comments in a PPTX's or XLSX's comments part, one each: a slide's (`p:cm`, its
    `p:text`; PowerPoint's threaded `cm` and `reply`, their `txBody`) or a workbook's cell
    notes (`comment`, its `text`). The libraries read none: reviewers' comments were lost.
    A part that is not readable XML gives nothing."""
    try:
        root = etree.fromstring(part, _XML)
    except etree.XMLSyntaxError:
        return []
    lines = []
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).localname not in _COMMENTS:
            continue
        for child in element:
            name = etree.QName(child).localname if isinstance(child.tag, str) else ""
            if name == "text":
                text = "".join(child.itertext())
            elif name == "txBody":
                text = "\n".join(_paragraph_words(p) for p in child.iter(f"{_A}p"))
            else:
                continue
            if text.strip():
                lines.append(text.strip())
    return lines


# A picture's description as Office 365 writes one it made up itself ends so; the words
# before it (what the picture shows) are kept, the remark is not.
_GENERATED = re.compile(
    r"\s*(?:Description automatically generated(?: with \w+ confidence)?\.?"
    r"|AI-generated content may be incorrect\.?)\s*$"
)
# A bare file name, which programs put where no description was written (PowerPoint and
# python-pptx name an inserted picture's file): it says nothing of what the picture shows.
_FILE_NAME = re.compile(r"[^\s/\\]+\.(?:png|jpe?g|gif|bmp|tiff?|emf|wmf|svg|webp)", re.IGNORECASE)
_DECORATIVE = "{http://schemas.microsoft.com/office/drawing/2017/decorative}decorative"


def alt_text(properties: Any) -> str:
    """The alternative text of a drawn object from its non-visual properties (`p:cNvPr` of
    a slide's picture, `wp:docPr` of a Word drawing): its description, else its title, on
    one line; "" when it has none, only a file name, or its author marked it decorative.
    Authors write there what a picture, a diagram or a chart shows for those who cannot see
    it, and the libraries read none of it: "the first page of the paper", "a map of the
    flooded streets" were lost."""
    for mark in properties.iter(_DECORATIVE):
        if mark.get("val") in ("1", "true"):
            return ""
    words = one_line(properties.get("descr") or "") or one_line(properties.get("title") or "")
    return "" if _FILE_NAME.fullmatch(words) else _GENERATED.sub("", words)


def shape_lines(part: bytes) -> list[str]:
    """The text of the shapes in a drawing part (a sheet's `xdr:wsDr`: text boxes, callouts,
    shapes with words), a shape's paragraphs a line each, shape by shape; grouped shapes too.
    openpyxl reads no shapes: a disclaimer or a note written in a text box was lost. A part
    that is not readable XML gives nothing."""
    try:
        root = etree.fromstring(part, _XML)
    except etree.XMLSyntaxError:
        return []
    shapes = (
        "\n".join(_paragraph_words(p) for p in body.iter(f"{_A}p"))
        for body in root.iter(f"{_XDR}txBody")
    )
    return [text.strip() for text in shapes if text.strip()]
