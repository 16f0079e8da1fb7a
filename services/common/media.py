"""Media-type sniffing from raw bytes and filename sanitising for uploads.

Every check here reads a bounded head of the upload and runs in linear time: the bytes come
from anyone with a token.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

import filetype

from services.common import compound
from services.common.archive import is_zip
from services.common.encoding import (
    MAX_UNREADABLE_SHARE,
    detect_encoding,
    sample_of,
    unreadable_share,
)
from services.common.media_types import (
    ALLOWED_MEDIA_TYPES,
    DOC,
    DOCX,
    EMAIL,
    EPUB,
    FLAT_OPENDOCUMENT_MEDIA_TYPES,
    FODG,
    FODP,
    FODS,
    FODT,
    HTML,
    MARKDOWN,
    MSG,
    NOTEBOOK,
    ODG,
    ODP,
    ODS,
    ODT,
    OFFICE_MEDIA_TYPES,
    OPENDOCUMENT_MEDIA_TYPES,
    PDF,
    PLAIN,
    PPT,
    PPTX,
    RTF,
    SBV,
    SIGNED,
    SRT,
    SUFFIXES,
    VTT,
    XLS,
    XLSB,
    XLSX,
    XML,
)
from services.common.packages import package_kind, package_reason
from services.common.signed import Wrapping, pkcs7_der, unwrap

# The media types are defined in media_types; importers of this module get them here too.
__all__ = [
    "ALLOWED_MEDIA_TYPES",
    "DOC",
    "DOCX",
    "EMAIL",
    "EPUB",
    "FALLBACK_FILENAME",
    "FLAT_OPENDOCUMENT_MEDIA_TYPES",
    "FODG",
    "FODP",
    "FODS",
    "FODT",
    "HTML",
    "MARKDOWN",
    "MAX_FILENAME_CHARS",
    "MBOX_POSTMARK",
    "MSG",
    "NOTEBOOK",
    "ODG",
    "ODP",
    "ODS",
    "ODT",
    "OFFICE_MEDIA_TYPES",
    "OPENDOCUMENT_MEDIA_TYPES",
    "PDF",
    "PLAIN",
    "PPT",
    "PPTX",
    "RTF",
    "SBV",
    "SIGNED",
    "SNIFF_BYTES",
    "SRT",
    "SUFFIXES",
    "VTT",
    "XLS",
    "XLSB",
    "XLSX",
    "XML",
    "is_blank",
    "sanitize_filename",
    "sniff_media_type",
    "unsupported_reason",
]

MAX_FILENAME_CHARS = 255
FALLBACK_FILENAME = "upload"

SNIFF_BYTES = 64 * 1024
_HTML_HEAD_CHARS = 1024
_MARKDOWN_SUFFIXES = (".md", ".markdown")
# Files whose lines starting "# " are comments (code, shell, configuration): plain text
_HASH_COMMENT_SUFFIXES = (
    ".py", ".sh", ".bash", ".zsh", ".rb", ".pl", ".r", ".yaml", ".yml", ".toml", ".ini", ".cfg",
    ".conf", ".properties", ".dockerfile", ".tf", ".ps1", ".mk",
)  # fmt: skip
# The BOF record types of Excel 2, 3 and 4 (BIFF2-4), and the kind "worksheet" in it
_BARE_BIFF_BOF = frozenset({b"\x09\x00", b"\x09\x02", b"\x09\x04"})
_WORKSHEET = b"\x10\x00"
_PDF_HEADER_WITHIN = 1024  # where PDF readers look for the header
_SIGNATURE_BYTES = 8192  # what filetype reads of a file
# What is said of a known binary format, by filetype's family of it (its "archive" family
# also holds programs, PostScript and SQLite).
_BINARY_REASONS = {
    "image": "a picture, with no text to read: run it through OCR and upload the text or a"
    " PDF with a text layer",
    "audio": "audio, with no text to read: upload a transcript",
    "video": "video, with no text to read: upload a transcript",
    "font": "a font, with no document text",
    "document": "an office format Sluice does not read: save it as .docx, .pptx or .xlsx",
}
_OLE2 = compound.MAGIC  # Microsoft's compound file: .doc, .xls, .ppt, .msg
# The stream or storage that names what a compound file is, each with the type it makes the
# file, or why such a file is refused.
_OLE_MAIN_ENTRIES: dict[str, str] = {
    "Workbook": XLS,
    "Book": XLS,  # Excel 5 and 95
    "WordDocument": DOC,
    "PowerPoint Document": PPT,
    "__properties_version1.0": MSG,  # an Outlook message (or template, .oft)
}
_ENCRYPTED_PACKAGE = "EncryptedPackage"
_OLE_REFUSED_ENTRIES: dict[str, str] = {
    # an encrypted OOXML document: the package is kept as one encrypted stream
    _ENCRYPTED_PACKAGE: "a password-protected Office document; save it without a password"
    " and upload again",
    # PowerPoint 3 and 4 (Mac and Windows), whose charts and tables are Excel and Word
    # objects with streams of their own: without this entry the file read as their Excel one
    "PP40": "a PowerPoint 4 presentation (from before PowerPoint 97), which Sluice does not"
    " read; open it in PowerPoint or LibreOffice Impress, save it as .pptx and upload again",
    # Office programs whose files Sluice does not read, said by name (POI's test files)
    "VisioDocument": "a Visio drawing (.vsd), which Sluice does not read; export it as PDF"
    " and upload that",
    "Quill": "a Publisher document (.pub), which Sluice does not read; export it as PDF and"
    " upload that",
}
# Word processors' formats from before Office 97, by their first bytes (the files read as
# binary, and filetype knows none of them): said by name, with what to do
_OLD_WORD_PROCESSORS: dict[bytes, str] = {
    b"\xffWPC": "a WordPerfect document",
    b"\xdb\xa5": "a Word for Windows 1 or 2 document",  # the FIB's wIdent 0xA5DB
    b"\x31\xbe\x00\x00": "a Windows Write or Word for DOS document",
    b"\x32\xbe\x00\x00": "a Windows Write or Word for DOS document (with pictures)",
}

# Linear patterns only: fixed-width alternatives, no nested or adjacent unbounded repeats.
# What an HTML page opens with: its document type or root, or (a page whose server put its
# styles or scripts first, 50 KB of them before the document type) a script or a style sheet
_HTML_OPENER = re.compile(r"<(?:!doctype[ \t\r\n]+html|html|script|style)[\s>]", re.I)
_RTF_OPENER = "{\\rtf"
# RTF's opening in bytes, after a byte-order mark or white space: a picture kept as raw bytes
# (`\bin`, rtf.js's simplepngbin.rtf) makes the rest binary, so the text check cannot see it
_RTF_START = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]{0,64}\{\\rtf")
_HTML_TAG = re.compile(r"<(?:head|body|title|p|div|h[1-6]|meta|article)[\s/>]", re.I)
# A page a server printed something before (PHP's warnings, "<br />\n<b>Deprecated</b>: ...",
# 4.9 KB of them before the document type) is HTML too: markup first, then a line opening
# the document within the first 8 KiB. Read as plain text, its markup was indexed.
_HTML_LATE_CHARS = 8192
_HTML_LATE_OPENER = re.compile(r"^[ \t]*<(?:!doctype[ \t\r\n]+html|html)[\s>]", re.I | re.M)
_MD_HEADING = re.compile(r"#{1,6} \S")
# An RFC 5322 header line's field name and colon; the fields that make a head an e-mail's.
_HEADER_FIELD = re.compile(r"[!-9;-~]{1,76}:")
_EMAIL_FIELDS = frozenset(
    {"to", "cc", "subject", "date", "message-id", "mime-version", "received", "return-path"}
)
_EMAIL_HEAD_LINES = 500
_MIME_FIELDS = frozenset({"mime-version", "content-type"})
# An mbox file's postmark line, which starts each of its messages: `From <sender> <date>`,
# the date as C's asctime writes it ("From - Mon Jun  1 10:00:00 2009" from Thunderbird).
MBOX_POSTMARK = r"From \S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
_POSTMARK = re.compile(MBOX_POSTMARK)
_MD_LIST = re.compile(r"(?:[-*+]|[0-9]{1,9}\.) \S")
# A flat OpenDocument's root element and, in its start tag, the type it names (a template
# reads as its kind)
_FLAT_ODF_ROOT = "<office:document"
_FLAT_ODF_TYPE = re.compile(
    r"\soffice:mimetype=\"(application/vnd\.oasis\.opendocument\."
    r"(?:text|spreadsheet|presentation|graphics))(?:-template)?\""
)
_XML_OPENERS = ("<?xml", _FLAT_ODF_ROOT)
_XML_PROLOG = ("<?xml", "<!DOCTYPE", "<!doctype")
# A Jupyter notebook's opening and the keys only a notebook has
_NOTEBOOK_START = re.compile(r'\{\s*"(?:cells|metadata|nbformat|nbformat_minor|worksheets)"\s*:')
_NOTEBOOK_KEYS = re.compile(r'"(?:cell_type|nbformat)"\s*:')
# A WebVTT file's first line; a SubRip file's first cue: its number, then its timing; a
# SubViewer file's (YouTube's .sbv) first cue: its start and end on one line
_WEBVTT = re.compile(r"WEBVTT(?:[ \t]|\r?\n|\Z)")
_SUBVIEWER = re.compile(
    r"[0-9]{1,3}:[0-9]{2}:[0-9]{2}\.[0-9]{3},[0-9]{1,3}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[ \t]*\r?\n"
)
_SUBRIP = re.compile(
    r"[0-9]{1,9}[ \t]*\r?\n[0-9]{1,3}:[0-9]{2}:[0-9]{2}[,.][0-9]{1,3}[ \t]*-->[ \t]*"
    r"[0-9]{1,3}:[0-9]{2}:[0-9]{2}[,.][0-9]{1,3}"
)
# An element's start: `<` and a name (declarations, `<!...`, and instructions, `<?...`, are not)
_FIRST_ELEMENT = re.compile(r"<([A-Za-z_][\w.:-]{0,100})")
# The root a document type names, looked for in the head; and the first elements only an
# HTML page has (`<!DOCTYPE html><head>`, without `<html>`, was read as XML)
_DOCTYPE_NAME = re.compile(r"<!DOCTYPE\s+([A-Za-z_][\w.:-]{0,100})", re.I)
_DOCTYPE_CHARS = 4096
_HTML_ROOTS = frozenset({"html", "head", "body"})
# A start tag declaring a namespace, matched at the start of the text only (bounded)
_NAMESPACED_ROOT = re.compile(r"<([A-Za-z_][\w.:-]{0,100})\s[^>]{0,4096}?\bxmlns[:=]")


def sniff_media_type(data: bytes, filename: str | None = None) -> str | None:
    """Return the media type the bytes really are, or None when unknown or not allowed."""
    if _is_pdf(data):
        return PDF
    if is_zip(data):
        return package_kind(data)
    if data.startswith(_OLE2) or pkcs7_der(data) is not None:
        return _container_kind(data, filename)
    if _is_bare_worksheet(data):
        return XLS
    if _RTF_START.match(data):
        return RTF
    text = _head_text(data) if _binary_kind(data) is None else None
    return None if text is None else _text_kind(text, filename)


def _container_kind(data: bytes, filename: str | None) -> str | None:
    """An OLE2 compound file's type, by the entry that says what it is; SIGNED for a signed
    file (.p7m) whose document is of a type Sluice reads; else None."""
    if data.startswith(_OLE2):
        main = _ole_main_entry(data)
        return None if main is None else _OLE_MAIN_ENTRIES.get(main)
    wrapping, inside = unwrap(data)
    signed = inside is not None and sniff_media_type(inside, _unsigned_name(filename))
    return SIGNED if wrapping is Wrapping.SIGNED and signed else None


def _unsigned_name(filename: str | None) -> str | None:
    """The name of the document a signed file holds: `fattura.xml.p7m` holds `fattura.xml`."""
    return filename[:-4] if filename and filename.lower().endswith(".p7m") else filename


def _text_kind(text: str, filename: str | None) -> str:
    """The media type of a text upload, from its head (and a Markdown file name)."""
    if text.lstrip().startswith(_RTF_OPENER):
        return RTF
    if _looks_like_email(text):
        return EMAIL
    kind = (
        _caption_kind(text)
        or _xml_kind(text)
        or _notebook_kind(text)
        or _markup_kind(text, filename)
    )
    return PLAIN if kind is None else kind


def _markup_kind(text: str, filename: str | None) -> str | None:
    """HTML or Markdown, from the head and a Markdown file name; None for neither."""
    if _markdown_named(filename) and not _HTML_OPENER.match(
        _skip_comments(text[:_HTML_HEAD_CHARS])
    ):
        # A README that opens with an HTML block (a centred logo, `<p align="center">`, as on
        # many GitHub projects) is Markdown still, as its name says: read as HTML, its
        # headings, lists and links were text with their marks ("# Install")
        return MARKDOWN
    if _looks_like_html(text):
        return HTML
    if _looks_like_markdown(text, filename):
        return MARKDOWN
    return None


def _markdown_named(filename: str | None) -> bool:
    """Whether the file name is a Markdown file's."""
    return filename is not None and filename.lower().endswith(_MARKDOWN_SUFFIXES)


def _flat_opendocument_kind(text: str) -> str | None:
    """The type of a flat OpenDocument (the XML its root names), or None. Read as plain
    text, one was indexed as its XML: styles, namespaces and macros."""
    if not text.lstrip().startswith(_XML_OPENERS):
        return None
    start = text.find(_FLAT_ODF_ROOT)
    if (
        start < 0
        or not text[start + len(_FLAT_ODF_ROOT) : start + len(_FLAT_ODF_ROOT) + 1].isspace()
    ):
        return None  # no root, or another element (`office:document-content`)
    end = text.find(">", start)
    named = _FLAT_ODF_TYPE.search(text, start, end if end >= 0 else len(text))
    return None if named is None else f"{named[1]}-flat-xml"


def _notebook_kind(text: str) -> str | None:
    """A Jupyter notebook: a JSON object whose first key is a notebook's (Jupyter writes
    them sorted: `cells` first) with a cell's or the format's key in the head."""
    head = text.lstrip("\ufeff \t\r\n")
    if _NOTEBOOK_START.match(head) and _NOTEBOOK_KEYS.search(head):
        return NOTEBOOK
    return None


def _caption_kind(text: str) -> str | None:
    """WebVTT (its `WEBVTT` signature line), SubRip (a cue number, then its timing) or
    SubViewer (a timing `start,end`), else None."""
    head = text.lstrip("\ufeff")
    if _WEBVTT.match(head):
        return VTT
    head = head.lstrip()
    if _SUBRIP.match(head):
        return SRT
    return SBV if _SUBVIEWER.match(head) else None


def _xml_kind(text: str) -> str | None:
    """A flat OpenDocument's type; XML for another text that opens as an XML document (its
    declaration, a document type, or a root element declaring a namespace) whose first
    element is not `html` (XHTML reads as HTML); else None."""
    if (flat := _flat_opendocument_kind(text)) is not None:
        return flat
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith(_XML_PROLOG):
        doctype = _DOCTYPE_NAME.search(head, 0, _DOCTYPE_CHARS)
        if doctype is not None and doctype[1].lower() == "html":
            return None  # XHTML, or an HTML page that starts with its head
        root = _FIRST_ELEMENT.search(head)
    else:  # no prolog: a root element that declares a namespace (a feed: `<rss xmlns:...`)
        root = _NAMESPACED_ROOT.match(head)
    return XML if root is not None and root[1].lower() not in _HTML_ROOTS else None


def unsupported_reason(data: bytes) -> str:
    """Why bytes that `sniff_media_type` found no allowed type in are refused, in words a
    person can act on (the upload check says it with the list of supported types)."""
    if data.startswith(_OLE2):
        return _ole_reason(data)
    if is_zip(data):
        return package_reason(data)
    if pkcs7_der(data) is not None:
        return _signed_reason(data)
    kind = _binary_kind(data)
    if kind is not None:
        family = type(kind).__module__.rpartition(".")[2]
        what = _BINARY_REASONS.get(family, "a format Sluice does not read")
        return f"{kind.mime} (.{kind.extension}): {what}"
    for signature, what in _OLD_WORD_PROCESSORS.items():
        if data.startswith(signature):
            return (
                f"{what}, a format Sluice does not read; open it in LibreOffice Writer (or the"
                " program that made it), save it as .docx or PDF and upload that"
            )
    return "not a supported document type (detected from the bytes)"


def _ole_reason(data: bytes) -> str:
    """Why an OLE2 compound file is refused."""
    main = _ole_main_entry(data)
    if main in _OLE_REFUSED_ENTRIES:
        return _OLE_REFUSED_ENTRIES[main]
    return (
        "an OLE2 compound file that is no Office document Sluice reads (no Word, Excel or"
        " PowerPoint 97-2003 file, no Outlook message); save it as .docx, .pptx or .xlsx"
        " and upload again"
    )


def _signed_reason(data: bytes) -> str:
    """Why a PKCS #7 file is refused: what it is, and what to upload instead."""
    wrapping, inside = unwrap(data)
    if wrapping is Wrapping.SIGNED and inside is not None:
        return f"a signed file (.p7m) whose document is {unsupported_reason(inside)}"
    if wrapping is Wrapping.ENCRYPTED:
        return (
            "an encrypted PKCS #7 (S/MIME) file, which only its recipients' keys open; decrypt"
            " it and upload the document"
        )
    if wrapping is Wrapping.DETACHED:
        return (
            "a PKCS #7 signature or certificate file (.p7s, .p7c) with no document inside;"
            " upload the signed document itself"
        )
    return (
        "a PKCS #7 file of a kind Sluice does not read (compressed, or damaged); upload the"
        " document inside it"
    )


def _ole_main_entry(data: bytes) -> str | None:
    """The entry of _OLE_MAIN_ENTRIES or _OLE_REFUSED_ENTRIES at the compound file's root,
    which says what it is (a file holding other documents, an Excel sheet in a Word
    document, a .doc attached to a message, has their entries too, in storages of their
    own), or None."""
    # An encrypted package first: one may keep a WordDocument stream beside it (POI's
    # bug53475-password-is-solrcell.docx), which is no document to read.
    return compound.root_entry(
        data, (_ENCRYPTED_PACKAGE, *_OLE_MAIN_ENTRIES, *_OLE_REFUSED_ENTRIES)
    )


def _binary_kind(data: bytes) -> filetype.Type | None:
    """The known binary format (image, audio, video, font, archive, program) the bytes are,
    by its signature (the filetype library), or None.

    A signature counts only with a NUL byte near it: some are two letters a text may start
    with ("BM" for BMP, "MZ" for a Windows program), and text holds no NUL but UTF-16's,
    whose letters no signature matches. A TIFF of white pixels (0xFF bytes) decodes as
    Windows-1252 "ÿÿÿ..." and was taken for text.
    """
    head = data[:_SIGNATURE_BYTES]
    if b"\x00" not in head:
        return None
    kind: filetype.Type | None = filetype.guess(head)
    if kind is None or kind.mime in ALLOWED_MEDIA_TYPES:  # an RTF file may hold a NUL
        return None
    return kind


def is_blank(data: bytes) -> bool:
    """True when the upload is text with nothing but whitespace in it (in any encoding)."""
    if len(data) > SNIFF_BYTES:
        return False  # whitespace that long is not worth decoding to refuse
    encoding = detect_encoding(data)
    return encoding is not None and not data.decode(encoding, errors="replace").strip()


def _is_bare_worksheet(data: bytes) -> bool:
    """An Excel 2, 3 or 4 worksheet: a BIFF stream of its own, no compound file around it,
    opened by a BOF record (its type, its length, then the sheet kind at offset 6: a
    worksheet). xlrd reads them; Excel 4 workbooks (several sheets, kind 0x100) it does not."""
    return data[:2] in _BARE_BIFF_BOF and data[3:4] == b"\x00" and data[6:8] == _WORKSHEET


def _is_pdf(data: bytes) -> bool:
    """A PDF header at the start, after a UTF-8 byte-order mark or leading whitespace (PDF
    readers, pypdf among them, accept those; some tools write them); or further into the
    first KiB, where PDF readers look for it too, when the file also ends as a PDF does
    (`%%EOF`): Ghostscript run with its banner on writes that banner before the header
    (pdfplumber's issue-848.pdf), and such files open everywhere. The end is asked for so
    that a text that merely quotes a header is still text."""
    head = data[:_PDF_HEADER_WITHIN]
    if head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"%PDF-"):
        return True
    return b"%PDF-" in head and b"%%EOF" in data[-_PDF_HEADER_WITHIN:]


def _head_text(data: bytes) -> str | None:
    """Decode the head of the upload in its detected encoding; None when it is not text."""
    sample = sample_of(data, size=SNIFF_BYTES)
    encoding = detect_encoding(sample)
    if encoding is None:
        return None
    text = sample.decode(encoding, errors="replace")
    if not text.strip() or unreadable_share(text) > MAX_UNREADABLE_SHARE:
        return None
    return text


def _looks_like_email(text: str) -> bool:
    """True when the text starts with e-mail headers: only header lines (an mbox `From `
    line first allowed) up to the first blank line, `From:` and two more known fields among
    them, or any header after an mbox postmark (a mailbox's first message), or MIME-Version
    and Content-Type. A text that merely mentions "From:" has other lines before its first
    blank one."""
    names: set[str] = set()
    postmark = False
    for number, line in enumerate(text.splitlines()[:_EMAIL_HEAD_LINES]):
        if not line.strip():
            break
        if line[0] in " \t" or (number == 0 and line.startswith("From ")):
            postmark = postmark or _POSTMARK.match(line) is not None
            continue  # a folded header's next line; the mbox separator
        field = _HEADER_FIELD.match(line)
        if field is None:
            return False
        names.add(field.group()[:-1].lower())
    return (
        ("from" in names and len(names & _EMAIL_FIELDS) >= 2)
        or (postmark and bool(names))
        or names >= _MIME_FIELDS  # a MIME message without From (an S/MIME .p7s saved alone)
    )


def _looks_like_html(text: str) -> bool:
    """Return True when the text starts like an HTML document or has HTML tags early on."""
    head = text[:_HTML_HEAD_CHARS]
    if _HTML_OPENER.match(_skip_comments(head)) or _HTML_TAG.search(head):
        return True
    late = _HTML_LATE_OPENER.search(text, 0, _HTML_LATE_CHARS)
    return head.lstrip().startswith("<") and late is not None


def _skip_comments(text: str) -> str:
    """Return the text after leading whitespace and `<!-- -->` comments."""
    rest = text.lstrip()
    while rest.startswith("<!--"):
        end = rest.find("-->", 4)
        if end < 0:
            return ""
        rest = rest[end + 3 :].lstrip()
    return rest


def _looks_like_markdown(text: str, filename: str | None) -> bool:
    """Return True for a Markdown filename or for text with strong Markdown signals.

    Signals: an ATX heading or a code fence; or an inline link together with a list item.
    """
    if _markdown_named(filename):
        return True
    if filename and filename.lower().endswith(_HASH_COMMENT_SUFFIXES):
        return False  # its "# ..." lines are comments, not headings
    link = listed = False
    for line in text.splitlines():
        if line.startswith("```") or _MD_HEADING.match(line):
            return True
        link = link or _has_inline_link(line)
        listed = listed or bool(_MD_LIST.match(line))
        if link and listed:
            return True
    return False


def _has_inline_link(line: str) -> bool:
    """Return True when the line holds `[text](target)`: three scans, each linear."""
    middle = line.find("](")
    if not 0 <= line.rfind("[", 0, middle) < middle - 1:
        return False
    target_end = line.find(")", middle + 2)
    return target_end > middle + 2 and not any(ch.isspace() for ch in line[middle + 2 : target_end])


def sanitize_filename(name: str | None) -> str:
    """Return a safe base filename: no directories, no control characters, at most 255 chars."""
    if not name:
        return FALLBACK_FILENAME
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    cleaned = cleaned.lstrip(".").strip()
    if not cleaned:
        return FALLBACK_FILENAME
    if len(cleaned) > MAX_FILENAME_CHARS:
        stem, dot, suffix = cleaned.rpartition(".")
        if dot and 0 < len(suffix) <= 16 and stem:
            cleaned = stem[: MAX_FILENAME_CHARS - len(suffix) - 1] + "." + suffix
        else:
            cleaned = cleaned[:MAX_FILENAME_CHARS]
    return cleaned
