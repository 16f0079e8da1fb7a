"""Documents inside a CMS (PKCS #7) signature: `.p7m` files (CAdES, as Italy's electronic
invoices `fattura.xml.p7m` and the EU's signed PDFs travel; S/MIME's opaque signing).

The signed document is inside the file, as it was signed; the signature around it is no text.
Read as they came, such files were refused (415) or, base64-armoured, indexed as base64.
asn1crypto reads the CMS structure (DER or BER, definite or indefinite lengths); a file is
unwrapped layer by layer (a document signed twice is a signature inside a signature). The
signature is not verified: Sluice indexes what the file says, and keeps the file as uploaded.
"""

from __future__ import annotations

import base64
import binascii
import re
from enum import Enum

from asn1crypto import cms
from asn1crypto.core import Void

SIGNED_DATA = "signed_data"
ENVELOPED_DATA = "enveloped_data"
MAX_LAYERS = 8  # signatures around a signature; more is no real file
# The DER of a ContentInfo opens with a SEQUENCE (0x30) and, within a few bytes, the OID of
# its content type: 1.2.840.113549.1.7.N (PKCS #7's data, signed, enveloped... types).
_PKCS7_OID = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"
_OID_WITHIN = 32
# The same, base64-encoded (what Italian invoicing systems often send), with or without the
# PEM armour: "MII..." / "MIA..." is the base64 of a SEQUENCE's first bytes.
_ARMOUR = re.compile(rb"-----(?:BEGIN|END) (?:PKCS7|CMS)-----")
_BASE64_HEAD = re.compile(rb"\s*MI[A-Za-z0-9+/]{2}")
_BASE64_HEAD_BYTES = 64


class Wrapping(Enum):
    """What kind of PKCS #7 file the bytes are."""

    SIGNED = "signed"  # a signed document, inside
    DETACHED = "detached"  # a signature of a document kept elsewhere (`.p7s`): none inside
    ENCRYPTED = "encrypted"  # enveloped (S/MIME encryption): readable with the key only
    OTHER = "other"  # another CMS type, or a file that breaks off


def pkcs7_der(data: bytes) -> bytes | None:
    """The DER (or BER) of a PKCS #7 file, `data` itself or decoded from its base64 (PEM
    armour or not), or None when `data` is no PKCS #7 file. Reads a bounded head first."""
    if data[:1] == b"\x30" and _PKCS7_OID in data[:_OID_WITHIN]:
        return data
    if not _BASE64_HEAD.match(_ARMOUR.sub(b"", data[:_BASE64_HEAD_BYTES])):
        return None
    try:
        der = base64.b64decode(b"".join(_ARMOUR.sub(b"", data).split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return der if der[:1] == b"\x30" and _PKCS7_OID in der[:_OID_WITHIN] else None


def unwrap(data: bytes) -> tuple[Wrapping, bytes | None]:
    """What `data` is and, for a signed document, the document inside every signature layer
    (None otherwise); (OTHER, None) when `data` is no PKCS #7 file at all."""
    content: bytes | None = data
    for _ in range(MAX_LAYERS):
        der = pkcs7_der(content) if content is not None else None
        if der is None:
            return (Wrapping.SIGNED, content) if content is not data else (Wrapping.OTHER, None)
        kind, content = _layer(der)
        if kind is not Wrapping.SIGNED:
            return kind, None
    return Wrapping.OTHER, None


def _layer(der: bytes) -> tuple[Wrapping, bytes | None]:
    """One CMS layer: its kind and, if signed, the content it encapsulates."""
    try:
        info = cms.ContentInfo.load(der)
        content_type = info["content_type"].native
        if content_type == ENVELOPED_DATA:
            return Wrapping.ENCRYPTED, None
        if content_type != SIGNED_DATA:
            return Wrapping.OTHER, None
        inside = info["content"]["encap_content_info"]["content"]
        if isinstance(inside, Void) or inside.contents is None:
            return Wrapping.DETACHED, None
        # The octet string's bytes (a constructed one's chunks joined), not `native`, which
        # parses them as ASN.1 when the content's type is not `data`
        return Wrapping.SIGNED, bytes(inside)
    except Exception:  # noqa: BLE001 - whatever asn1crypto raises on a damaged file
        return Wrapping.OTHER, None
