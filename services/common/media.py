"""Media-type sniffing from raw bytes and filename sanitising for uploads.

Every check here reads a bounded head of the upload and runs in linear time: the bytes come
from anyone with a token.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
import zlib
from pathlib import PurePosixPath

import filetype

from services.common import compound
from services.common.archive import ArchiveTooLargeError, inspect_archive, is_zip
from services.common.encoding import (
    MAX_UNREADABLE_SHARE,
    detect_encoding,
    sample_of,
    unreadable_share,
)

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML = "text/html"
MARKDOWN = "text/markdown"
PLAIN = "text/plain"
EMAIL = "message/rfc822"
RTF = "application/rtf"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
ODG = "application/vnd.oasis.opendocument.graphics"
OPENDOCUMENT_MEDIA_TYPES: frozenset[str] = frozenset({ODT, ODS, ODP, ODG})
# The same documents as one XML file (LibreOffice's "flat" formats: .fodt, .fods, ...), by
# the names freedesktop's shared MIME database gives them.
FODT, FODS, FODP, FODG = (f"{kind}-flat-xml" for kind in (ODT, ODS, ODP, ODG))
FLAT_OPENDOCUMENT_MEDIA_TYPES: frozenset[str] = frozenset({FODT, FODS, FODP, FODG})
XML = "application/xml"
VTT = "text/vtt"
NOTEBOOK = "application/x-ipynb+json"
SRT = "application/x-subrip"
EPUB = "application/epub+zip"
XLS = "application/vnd.ms-excel"
MSG = "application/vnd.ms-outlook"
DOC = "application/msword"
PPT = "application/vnd.ms-powerpoint"

# The file-name suffix of each type Sluice reads (what a file of it is called elsewhere).
SUFFIXES: dict[str, str] = {
    PDF: ".pdf", DOCX: ".docx", PPTX: ".pptx", XLSX: ".xlsx", HTML: ".html", MARKDOWN: ".md",
    PLAIN: ".txt", EMAIL: ".eml", RTF: ".rtf", ODT: ".odt", ODS: ".ods", ODP: ".odp",
    ODG: ".odg", FODT: ".fodt", FODS: ".fods", FODP: ".fodp", FODG: ".fodg", EPUB: ".epub",
    XLS: ".xls", MSG: ".msg", DOC: ".doc", PPT: ".ppt", XML: ".xml", VTT: ".vtt", SRT: ".srt",
    NOTEBOOK: ".ipynb",
}  # fmt: skip
ALLOWED_MEDIA_TYPES: frozenset[str] = frozenset(SUFFIXES)
# Formats stored as a ZIP archive of XML parts.
OFFICE_MEDIA_TYPES: frozenset[str] = frozenset({DOCX, PPTX, XLSX})

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
# The part that makes a ZIP archive an office document of each kind.
_OFFICE_MAIN_PARTS = (
    ("word/document.xml", DOCX),
    ("ppt/presentation.xml", PPTX),
    ("xl/workbook.xml", XLSX),
)
# The content types of those main parts (macro-enabled, template and slide-show variants
# too), by which a package whose main part stands elsewhere is known: OPC puts it where the
# package's relationship points (pandoc's tests hold a `word/document2.xml`). Not the
# binary workbook (.xlsb, `sheet.binary.macroEnabled.main`): openpyxl does not read it.
_OFFICE_MAIN_TYPES = {
    f"application/vnd.{family}.main+xml": kind
    for kind, families in (
        (DOCX, ("openxmlformats-officedocument.wordprocessingml.document",
                "openxmlformats-officedocument.wordprocessingml.template",
                "ms-word.document.macroEnabled", "ms-word.template.macroEnabledTemplate")),
        (PPTX, ("openxmlformats-officedocument.presentationml.presentation",
                "openxmlformats-officedocument.presentationml.slideshow",
                "openxmlformats-officedocument.presentationml.template",
                "ms-powerpoint.presentation.macroEnabled", "ms-powerpoint.slideshow.macroEnabled",
                "ms-powerpoint.template.macroEnabled")),
        (XLSX, ("openxmlformats-officedocument.spreadsheetml.sheet",
                "openxmlformats-officedocument.spreadsheetml.template",
                "ms-excel.sheet.macroEnabled", "ms-excel.template.macroEnabled")),
    )
    for family in families
}  # fmt: skip
_EPUB_CONTAINER = "META-INF/container.xml"
_EPUB_PACKAGE = b"application/oebps-package+xml"  # the media type of the rootfile it names
_CONTENT_TYPES = "[Content_Types].xml"
_BINARY_WORKBOOK = b"application/vnd.ms-excel.sheet.binary.macroEnabled.main"
_CONTENT_TYPES_BYTES = 256 * 1024  # of the content types part read (a real one: a few KiB)
# An attribute of [Content_Types].xml: fixed-width pieces and one bounded run, no nesting.
_CONTENT_TYPE_ATTRIBUTE = re.compile(rb"""ContentType\s*=\s*["']([^"'<>]{1,200})["']""")

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
# What reading a damaged ZIP raises: its directory, a part's CRC, its deflate stream.
# NotImplementedError: an entry packed by a method zipfile lacks (Deflate64, AES) or a newer
# ZIP version (_unpackable finds those first; this is the net behind it).
_UNREADABLE_ZIP = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    ValueError,
    EOFError,
    NotImplementedError,
)
_UNPACKED_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_ZIP_VERSION = 63  # zipfile.MAX_EXTRACT_VERSION: it refuses entries needing a later one
_MANIFEST_BYTES = 1024 * 1024  # of an OpenDocument's manifest read (a real one: a few KiB)
# Parts only an Apple iWork document has: since 2013 (protobuf `.iwa` parts), before (XML)
_IWORK_PARTS = frozenset({"Index/Document.iwa", "buildVersionHistory.plist"})

# Linear patterns only: fixed-width alternatives, no nested or adjacent unbounded repeats.
_HTML_OPENERS = ("<!doctype html", "<html")
_RTF_OPENER = "{\\rtf"
_HTML_TAG = re.compile(r"<(?:head|body|title|p|div|h[1-6]|meta|article)[\s/>]", re.I)
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
# A WebVTT file's first line; a SubRip file's first cue: its number, then its timing
_WEBVTT = re.compile(r"WEBVTT(?:[ \t]|\r?\n|\Z)")
_SUBRIP = re.compile(
    r"[0-9]{1,9}[ \t]*\r?\n[0-9]{1,3}:[0-9]{2}:[0-9]{2}[,.][0-9]{1,3}[ \t]*-->[ \t]*"
    r"[0-9]{1,3}:[0-9]{2}:[0-9]{2}[,.][0-9]{1,3}"
)
# An element's start: `<` and a name (declarations, `<!...`, and instructions, `<?...`, are not)
_FIRST_ELEMENT = re.compile(r"<([A-Za-z_][\w.:-]{0,100})")
# A start tag declaring a namespace, matched at the start of the text only (bounded)
_NAMESPACED_ROOT = re.compile(r"<([A-Za-z_][\w.:-]{0,100})\s[^>]{0,4096}?\bxmlns[:=]")


def sniff_media_type(data: bytes, filename: str | None = None) -> str | None:
    """Return the media type the bytes really are, or None when unknown or not allowed."""
    if _is_pdf(data):
        return PDF
    if is_zip(data):
        return _office_kind(data)
    if data.startswith(_OLE2):
        main = _ole_main_entry(data)
        return None if main is None else _OLE_MAIN_ENTRIES.get(main)
    if _is_bare_worksheet(data):
        return XLS
    text = _head_text(data) if _binary_kind(data) is None else None
    return None if text is None else _text_kind(text, filename)


def _text_kind(text: str, filename: str | None) -> str:
    """The media type of a text upload, from its head (and a Markdown file name)."""
    if text.lstrip().startswith(_RTF_OPENER):
        return RTF
    if _looks_like_email(text):
        return EMAIL
    if (kind := _caption_kind(text) or _xml_kind(text) or _notebook_kind(text)) is not None:
        return kind
    if _looks_like_html(text):
        return HTML
    if _looks_like_markdown(text, filename):
        return MARKDOWN
    return PLAIN


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
    """WebVTT (its `WEBVTT` signature line) or SubRip (a cue number, then its timing), else
    None."""
    head = text.lstrip("\ufeff")
    if _WEBVTT.match(head):
        return VTT
    return SRT if _SUBRIP.match(head.lstrip()) else None


def _xml_kind(text: str) -> str | None:
    """A flat OpenDocument's type; XML for another text that opens as an XML document (its
    declaration, a document type, or a root element declaring a namespace) whose first
    element is not `html` (XHTML reads as HTML); else None."""
    if (flat := _flat_opendocument_kind(text)) is not None:
        return flat
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith(_XML_PROLOG):
        root = _FIRST_ELEMENT.search(head)
    else:  # no prolog: a root element that declares a namespace (a feed: `<rss xmlns:...`)
        root = _NAMESPACED_ROOT.match(head)
    return XML if root is not None and root[1].lower() != "html" else None


def unsupported_reason(data: bytes) -> str:
    """Why bytes that `sniff_media_type` found no allowed type in are refused, in words a
    person can act on (the upload check says it with the list of supported types)."""
    if data.startswith(_OLE2):
        main = _ole_main_entry(data)
        if main in _OLE_REFUSED_ENTRIES:
            return _OLE_REFUSED_ENTRIES[main]
        return (
            "an OLE2 compound file that is no Office document Sluice reads (no Word, Excel or"
            " PowerPoint 97-2003 file, no Outlook message); save it as .docx, .pptx or .xlsx"
            " and upload again"
        )
    if is_zip(data):
        return _zip_reason(data)
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


def _zip_reason(data: bytes) -> str:
    """Why a ZIP archive is refused: cut short or unreadable, too large, or not office."""
    try:
        entry = _unpackable(inspect_archive(data))
        if entry is None:
            return _zip_content_reason(data)
        return (
            f"a ZIP archive packed with a compression method Sluice cannot unpack (its part"
            f" {entry.filename[:100]!r}: method {entry.compress_type}, ZIP version"
            f" {entry.extract_version / 10}; Deflate64 or AES encryption?): save it again from"
            " the program that made it (or zip it with standard Deflate) and upload again"
        )
    except _UNREADABLE_ZIP as error:
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        return (
            f"a ZIP archive (as DOCX, PPTX and XLSX are) that cannot be read ({reason}):"
            " it may be cut short; upload the complete file again"
        )
    except ArchiveTooLargeError as error:
        return error.message


def _unpackable(entries: list[zipfile.ZipInfo]) -> zipfile.ZipInfo | None:
    """The first entry Python's zipfile cannot unpack (it raises NotImplementedError: an
    unknown compression method such as Deflate64 or AES, a ZIP version past 6.3), or None."""
    return next(
        (
            entry
            for entry in entries
            if entry.compress_type not in _UNPACKED_METHODS or entry.extract_version > _ZIP_VERSION
        ),
        None,
    )


def _zip_content_reason(data: bytes) -> str:
    """Why a readable ZIP archive is refused: what its parts say it is."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        if "mimetype" in names and _odf_encrypted(archive):
            return (
                "a password-protected OpenDocument file; save it without a password and upload"
                " again"
            )
        declared = (
            _head_of(archive, _CONTENT_TYPES, _CONTENT_TYPES_BYTES)
            if _CONTENT_TYPES in names
            else b""
        )
    if names & _IWORK_PARTS:
        return (
            "an Apple iWork document (Pages, Numbers or Keynote), which Sluice does not read:"
            " export it as .docx, .xlsx, .pptx or PDF and upload that"
        )
    if _BINARY_WORKBOOK in declared:
        return (
            "an Excel binary workbook (.xlsb), which Sluice does not read: save it as .xlsx"
            " and upload that"
        )
    parts = ", ".join(part for part, _ in _OFFICE_MAIN_PARTS)
    return (
        "a ZIP archive that is no document Sluice reads: not a DOCX, PPTX or XLSX (it has"
        f" none of {parts}), nor an OpenDocument or EPUB (no `mimetype` entry naming one)"
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
    readers, pypdf among them, accept those; some tools write them)."""
    head = data[:_PDF_HEADER_WITHIN]
    return head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"%PDF-")


def _office_kind(data: bytes) -> str | None:
    """Return the office media type of a ZIP archive, from its entry names (an OOXML
    document's main part; an OpenDocument's `mimetype` entry), or None."""
    try:
        # Some tools write folders apart by backslashes; readers take them as slashes.
        entries = inspect_archive(data)
        if _unpackable(entries) is not None:
            return None  # its parts cannot be read: _zip_reason says why
        names = {entry.filename.replace("\\", "/") for entry in entries}
        kind = next((kind for part, kind in _OFFICE_MAIN_PARTS if part in names), None)
        return kind or _content_types_kind(data, names) or _mimetype_kind(data, names)
    except (ArchiveTooLargeError, *_UNREADABLE_ZIP):
        return None


def _content_types_kind(data: bytes, names: set[str]) -> str | None:
    """An OOXML package's media type, from the content type of its main part wherever that
    stands, or None (no content types part, or none of a main part Sluice reads)."""
    if _CONTENT_TYPES not in names:
        return None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        declared = _head_of(archive, _CONTENT_TYPES, _CONTENT_TYPES_BYTES)
    kinds = (_OFFICE_MAIN_TYPES.get(found.decode("ascii", "replace").strip()) for found in
             _CONTENT_TYPE_ATTRIBUTE.findall(declared))  # fmt: skip
    return next((kind for kind in kinds if kind is not None), None)


def _mimetype_kind(data: bytes, names: set[str]) -> str | None:
    """An OpenDocument's or an EPUB's media type, from its `mimetype` entry, or None: neither,
    or an OpenDocument with its content encrypted (a password: said by `unsupported_reason`)."""
    if "mimetype" not in names:
        return _container_kind(data, names)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        kind = _head_of(archive, "mimetype", 100).decode("ascii", "replace").strip()
        kind = kind.removesuffix("-template")  # .ott, .ots, .otp, .otg: read as their kind
        if kind == EPUB:
            return EPUB
        if kind not in OPENDOCUMENT_MEDIA_TYPES or "content.xml" not in names:
            return None
        return None if _odf_encrypted(archive) else kind


def _container_kind(data: bytes, names: set[str]) -> str | None:
    """EPUB for a book without its `mimetype` entry whose container names a package (an
    invalid EPUB that readers open, as Sluice's reader does), else None."""
    if _EPUB_CONTAINER not in names:
        return None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        container = _head_of(archive, _EPUB_CONTAINER, _CONTENT_TYPES_BYTES)
    return EPUB if _EPUB_PACKAGE in container else None


def _odf_encrypted(archive: zipfile.ZipFile) -> bool:
    """True when an OpenDocument's manifest lists encrypted parts (a password); False when it
    has none or none that can be read (the parser then says what is wrong with it)."""
    try:
        return b"encryption-data" in _head_of(archive, "META-INF/manifest.xml", _MANIFEST_BYTES)
    except (KeyError, *_UNREADABLE_ZIP):
        return False


def _head_of(archive: zipfile.ZipFile, name: str, size: int) -> bytes:
    """The first `size` bytes of a part: the upload check unpacks no more of one (ingest is
    not the parser's sandbox, and a part may unpack to hundreds of MiB)."""
    with archive.open(name) as part:
        return part.read(size)


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
    return _skip_comments(head).lower().startswith(_HTML_OPENERS) or bool(_HTML_TAG.search(head))


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
    if filename and filename.lower().endswith(_MARKDOWN_SUFFIXES):
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
