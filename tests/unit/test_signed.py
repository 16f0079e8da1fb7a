"""Signed files (.p7m): accepted when the document inside is one Sluice reads, and read as
that document; encrypted ones, bare signatures and damaged ones refused saying what they are."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from asn1crypto import cms

from services.common.media import SIGNED, XML, sniff_media_type, unsupported_reason
from services.common.signed import MAX_LAYERS, Wrapping, unwrap
from services.ingest.core.uploads import UploadRejectedError, validate_upload
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from services.parser.core.routing import Routes
from tests.fixtures.corpus import corpus_file, sha256

pytestmark = pytest.mark.unit

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


def _read(path: str) -> bytes:
    return corpus_file(path).read()


def _signed(content: bytes | None) -> bytes:
    """`content` in a CMS SignedData (no signer: the structure is what is read), or a
    detached signature when None."""
    encapsulated: dict[str, object] = {"content_type": "data"}
    if content is not None:
        encapsulated["content"] = content
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [],
            "encap_content_info": encapsulated,
            "signer_infos": [],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def _accepted(data: bytes, filename: str) -> str:
    upload = validate_upload(
        tenant_id="t",
        data=data,
        sha256=sha256(data),
        filename=filename,
        metadata_json=None,
        max_bytes=50 * 1024 * 1024,
    )
    return upload.media_type


def _refusal(data: bytes) -> str:
    with pytest.raises(UploadRejectedError) as refused:
        _accepted(data, "file.p7m")
    assert refused.value.status == 415
    return refused.value.detail


@pytest.mark.parametrize(
    "encode",
    [
        lambda der: der,
        base64.encodebytes,  # as Italian invoicing systems often send it
        lambda der: b"-----BEGIN PKCS7-----\n" + base64.encodebytes(der) + b"-----END PKCS7-----\n",
    ],
    ids=["der", "base64", "pem"],
)
def test_a_signed_invoice_is_accepted_and_read_as_the_xml_inside(
    encode: Callable[[bytes], bytes],
) -> None:
    signed = encode(_read("tika/test.xml.p7m"))
    assert _accepted(signed, "fattura.xml.p7m") == SIGNED
    wrapping, inside = unwrap(signed)
    assert wrapping is Wrapping.SIGNED and inside is not None
    assert inside.startswith(b"<?xml") and sniff_media_type(inside) == XML
    assert extract(signed, SIGNED).text == extract(inside, XML).text
    assert "ESTRAZIONE" in extract(signed, SIGNED).text


def test_a_signed_file_in_indefinite_lengths_is_read() -> None:
    assert extract(_read("tika/testPKCS7_signed_data_ind.p7m"), SIGNED).text == "text"


def test_a_document_signed_twice_reads_as_the_document() -> None:
    docx = _read("python-docx/test.docx")
    twice = _signed(_signed(docx))
    assert _accepted(twice, "contract.docx.p7m") == SIGNED
    assert extract(twice, SIGNED).text == extract(docx, DOCX).text


def test_signatures_nested_past_any_real_file_are_refused() -> None:
    data = b"plain words"
    for _ in range(MAX_LAYERS + 1):
        data = _signed(data)
    assert sniff_media_type(data) is None
    assert "damaged" in _refusal(data)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (_read("tika/testPKCS7_enveloped_ind.p7m"), "encrypted PKCS #7"),
        (_read("tika/testDetached.p7s"), "no document inside"),
        (_signed(None), "no document inside"),
        (
            _signed(PNG),
            "whose document is image/png",
        ),
        (_read("tika/test.xml.p7m")[:600], "damaged"),  # cut short
    ],
    ids=["encrypted", "detached", "no-content", "signed-picture", "truncated"],
)
def test_what_cannot_be_read_is_refused_saying_what_it_is(data: bytes, says: str) -> None:
    assert sniff_media_type(data) is None
    assert says in unsupported_reason(data)
    assert says in _refusal(data)


def test_a_signed_file_the_parser_cannot_open_fails_saying_why() -> None:
    with pytest.raises(ParseError) as failure:
        extract(_read("tika/test.xml.p7m")[:600], SIGNED)
    assert failure.value.code == "corrupt_file" and ".p7m" in failure.value.message


def test_text_that_only_starts_like_base64_is_still_text() -> None:
    assert sniff_media_type(b"MIKE's notes\n\nMeeting at noon.\n") == "text/plain"


def test_a_signed_file_is_never_sent_to_the_remote_parser() -> None:
    routes = Routes(media_types=("*",), tenants=("*",))
    assert routes.remote(XML, "acme") and not routes.remote(SIGNED, "acme")
