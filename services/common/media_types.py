"""The media types Sluice reads, their file-name suffixes, and the families they fall in."""

from __future__ import annotations

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
SBV = "text/x-sbv"  # YouTube's SubViewer captions (no registered type)
EPUB = "application/epub+zip"
XLS = "application/vnd.ms-excel"
XLSB = "application/vnd.ms-excel.sheet.binary.macroenabled.12"  # (types are lower-cased)
MSG = "application/vnd.ms-outlook"
DOC = "application/msword"
PPT = "application/vnd.ms-powerpoint"
# A document inside a CMS (PKCS #7) signature (.p7m): read as the document signed
SIGNED = "application/pkcs7-mime"

# The file-name suffix of each type Sluice reads (what a file of it is called elsewhere).
SUFFIXES: dict[str, str] = {
    PDF: ".pdf", DOCX: ".docx", PPTX: ".pptx", XLSX: ".xlsx", HTML: ".html", MARKDOWN: ".md",
    PLAIN: ".txt", EMAIL: ".eml", RTF: ".rtf", ODT: ".odt", ODS: ".ods", ODP: ".odp",
    ODG: ".odg", FODT: ".fodt", FODS: ".fods", FODP: ".fodp", FODG: ".fodg", EPUB: ".epub",
    XLS: ".xls", MSG: ".msg", DOC: ".doc", PPT: ".ppt", XML: ".xml", VTT: ".vtt", SRT: ".srt",
    SBV: ".sbv", NOTEBOOK: ".ipynb", XLSB: ".xlsb", SIGNED: ".p7m",
}  # fmt: skip
ALLOWED_MEDIA_TYPES: frozenset[str] = frozenset(SUFFIXES)
# Formats stored as a ZIP archive of XML parts.
OFFICE_MEDIA_TYPES: frozenset[str] = frozenset({DOCX, PPTX, XLSX})
