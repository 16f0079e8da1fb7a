"""What the readers of OLE2 compound files (`.doc`: legacy_word.py, `.ppt`:
legacy_slides.py) share: a stream's bytes, and the title in the file's summary information
(the `\x05SummaryInformation` stream olefile reads)."""

from __future__ import annotations

import olefile

from services.parser.core.text import title_of

_WESTERN = 1252  # the code page of an 8-bit title whose summary names none, or a bad one


def read_stream(ole: olefile.OleFileIO, name: str) -> bytes:
    """The whole stream `name` (olefile raises for one that is missing or damaged)."""
    with ole.openstream(name) as stream:
        data: bytes = stream.read()
    return data


def summary_title(ole: olefile.OleFileIO) -> str | None:
    """The title in the file's summary information, if it has a readable one: 8-bit in the
    code page the summary names."""
    try:
        metadata = ole.get_metadata()
    except Exception:  # noqa: BLE001 - the title is optional; a broken summary is not fatal
        return None
    title = metadata.title
    if not isinstance(title, bytes):
        return title_of(title)
    code_page = metadata.codepage if isinstance(metadata.codepage, int) else _WESTERN
    try:
        return title_of(title.decode(f"cp{code_page}", errors="replace").rstrip("\x00"))
    except LookupError:
        return title_of(title.decode(f"cp{_WESTERN}", errors="replace").rstrip("\x00"))
