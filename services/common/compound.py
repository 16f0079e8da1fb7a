"""Which of some named entries a Microsoft compound file (OLE2: .doc, .xls, .ppt, .msg) holds
at its root, read at upload time from the bytes.

A compound file is a small file system: a 512-byte header, then sectors of 512 or 4,096
bytes; a file allocation table (FAT) chains the sectors of each stream, the directory is
such a stream of 128-byte entries, each with its name in UTF-16LE, the name's size in bytes
at 64, its kind at 66 (1 a storage, 2 a stream, 5 the root) and the entry numbers of its left
and right siblings and of its first child at 68, 72 and 76. The children of a storage form a
tree through those sibling links.

Not olefile: it follows the file's sector chains in Python, in the ingest process, before
any limit, and checks each stream against every other (quadratic in a crafted file's
thousands of entries). Here only the directory's chain and the root's children are
followed, each step bounded by the file's size, each entry visited once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
_HEADER = 512
_ENTRY = 128
_END = 0xFFFFFFFA  # at or above: end of chain, free, or a FAT/DIFAT sector marker
_HEADER_DIFAT = 109  # FAT sector numbers the header itself lists


def root_entry(data: bytes, names: Iterable[str]) -> str | None:
    """The first of `names` that is an entry directly under the file's root storage, or
    None. Names compare without case, as the format's do.

    Where the header or the directory cannot be followed (a file cut short, damaged), the
    entries are found by a scan of the bytes instead, and the one at the lowest offset
    counts: the file's own main stream is usually written before the streams of the
    documents it holds.
    """
    wanted = list(names)
    children = _root_children(data)
    if children is None:
        return _scan(data, wanted)
    return next((name for name in wanted if name.lower() in children), None)


def _root_children(data: bytes) -> set[str] | None:
    """The lower-cased names of the root storage's children, or None where the header or
    the directory cannot be followed."""
    if len(data) < _HEADER or not data.startswith(MAGIC):
        return None
    shift = _u16(data, 30)
    if shift not in (9, 12):
        return None
    size = 1 << shift
    fat = _fat_sectors(data, size)
    directory = _chain(data, size, fat, _u32(data, 48))
    if not directory:
        return None
    per_sector = size // _ENTRY

    def entry(number: int) -> bytes | None:
        sector, index = divmod(number, per_sector)
        if sector >= len(directory):
            return None
        at = _offset(directory[sector], size) + index * _ENTRY
        return data[at : at + _ENTRY] if at + _ENTRY <= len(data) else None

    root = entry(0)
    if root is None or root[66] != 5:
        return None
    children: set[str] = set()
    seen: set[int] = set()
    stack = [_u32(root, 76)]
    while stack:
        number = stack.pop()
        if number >= _END or number in seen:
            continue
        seen.add(number)
        found = entry(number)
        if found is None:
            return None
        length = min(_u16(found, 64), 64)
        children.add(found[: max(length - 2, 0)].decode("utf-16-le", "replace").lower())
        stack += (_u32(found, 68), _u32(found, 72))
    return children


def _fat_sectors(data: bytes, size: int) -> list[int]:
    """The sectors holding the FAT: the header's 109, then the DIFAT sectors' (each one's
    last number names the next), as many as the header says, bounded by the file's size."""
    fat = [_u32(data, 76 + 4 * i) for i in range(_HEADER_DIFAT)]
    per_sector = size // 4 - 1
    sector, count = _u32(data, 68), _u32(data, 72)
    for _ in range(min(count, len(data) // size + 1)):
        at = _offset(sector, size)
        if sector >= _END or at + size > len(data):
            break
        fat += (_u32(data, at + 4 * i) for i in range(per_sector))
        sector = _u32(data, at + 4 * per_sector)
    return [sector for sector in fat if sector < _END]


def _chain(data: bytes, size: int, fat: list[int], first: int) -> list[int]:
    """The sectors of the stream starting at `first`, in order; empty where a step leaves
    the file or the FAT, or the chain loops."""
    per_sector = size // 4
    chain: list[int] = []
    seen: set[int] = set()
    sector = first
    while sector < _END:
        if sector in seen or _offset(sector, size) + size > len(data):
            return []
        seen.add(sector)
        chain.append(sector)
        table, index = divmod(sector, per_sector)
        if table >= len(fat):
            return []
        sector = _u32(data, _offset(fat[table], size) + 4 * index)
    return chain


def _scan(data: bytes, names: list[str]) -> str | None:
    """The one of `names` whose directory entry comes first in the bytes: a linear pass of
    regular expressions with fixed-width alternatives, each match checked for an entry's
    alignment, name size and kind."""
    first: tuple[int, str] | None = None
    for name in names:
        size = ((len(name) + 1) * 2).to_bytes(2, "little")
        for match in _pattern(name).finditer(data):
            at = match.start()
            kind = data[at + 66 : at + 67]  # one byte, or none where the file is cut short
            if at % _ENTRY == 0 and data[at + 64 : at + 66] == size and kind in (b"\x01", b"\x02"):
                if first is None or at < first[0]:
                    first = (at, name)
                break
    return None if first is None else first[1]


def _pattern(name: str) -> re.Pattern[bytes]:
    """An entry's name in UTF-16LE, in any case (names compare so), then its terminating
    NUL (re caches the compiled patterns)."""
    letters = b"".join(
        b"[%s%s]\x00" % (re.escape(c.lower().encode()), re.escape(c.upper().encode())) for c in name
    )
    return re.compile(letters + b"\x00\x00")


def _offset(sector: int, size: int) -> int:
    """Where a sector starts: after the header, which takes one sector's room."""
    return (sector + 1) * size


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")
