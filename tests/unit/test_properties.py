"""Bounded property-based runs: the upload validator, the event decoder and the text parsers.

Whatever bytes arrive, each of these ends in a result or in its documented error type
(UploadRejectedError with a 4xx status, EventDecodeError with a code, ParseError with a code);
nothing else escapes. Derandomized, no example database, a fixed number of examples: the same
inputs on every run, so a failure here is a real defect, never a flake.
"""

import json
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import EventDecodeError, decode, encode
from services.common.media import (
    ALLOWED_MEDIA_TYPES,
    EMAIL,
    HTML,
    MARKDOWN,
    MAX_FILENAME_CHARS,
    NOTEBOOK,
    PLAIN,
    RTF,
    SBV,
    SRT,
    VTT,
    XML,
    sanitize_filename,
    sniff_media_type,
)
from services.ingest.core.uploads import (
    UploadRejectedError,
    check_idempotency_key,
    parse_metadata,
    validate_upload,
)
from services.parser.core.errors import DECODE_ERROR, ERROR_CODES, ParseError
from services.parser.core.extract import extract
from services.parser.core.html import extract_html
from services.parser.core.markdown import extract_markdown
from services.parser.core.parsed import ParsedText
from services.parser.core.text import decode_text

pytestmark = pytest.mark.unit

BOUNDED = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GOLDEN = sorted((Path(__file__).parents[1] / "fixtures" / "events" / "v1").glob("*.json"))

# Pieces of HTML and Markdown syntax, so the runs reach the parsers' markup paths quickly.
MARKUP_TOKENS = (
    "<", ">", "</", "/>", "<!", "<!--", "-->", "<![", "[", "]", "]]>", "<?", "?>",
    "<!doctype html>", "CDATA", "if", "endif", "&", "&#", "&#x", ";", "&amp;", "&#0;",
    "&#xd800;", "<p>", "</p>", "<script>", "</script>", "<style>", "<title>", "</title>",
    "<h1>", "</h1>", "<h2 a=b>", "<pre>", "</pre>", "<svg>", "<br/>", "<div class='x'>",
    '"', "'", "=", " ", "\n", "\r\n", "\t", "\x00", "\x1b", "\ufeff", "# ", "## ", "===",
    "---", "```", "~~~", "**", "__", "~~", "`", "[a](b)", "![i](s)", "[r][1]", "[1]: http://x",
    "> ", "- ", "1. ", "***", "<https://x.y>", "é", "日本", "שלום", "\u202e",
)  # fmt: skip
markup = st.lists(st.one_of(st.sampled_from(MARKUP_TOKENS), st.text(max_size=6)), max_size=60).map(
    "".join
)


def _encodings(text: str) -> list[bytes]:
    """`text` in the encodings a real upload may use (skipping ones that cannot hold it)."""
    out = [text.encode()]
    for encoding in ("utf-8-sig", "utf-16", "utf-16-le", "cp1252", "shift_jis", "latin-1"):
        try:
            out.append(text.encode(encoding))
        except UnicodeEncodeError:
            continue
    return out


encoded_markup = markup.flatmap(lambda text: st.sampled_from(_encodings(text)))
# Pieces of RTF and of e-mail (MIME) syntax, for the parsers of those formats.
RTF_TOKENS = (
    "{\\rtf1", "{", "}", "\\par ", "\\'e9", "\\'", "\\'zz", "\\u8364?", "\\u-10",
    "\\uc2 ", "\\ansicpg1251", "\\ansicpg99999", "{\\pict ", "{\\*\\x ", "{\\fonttbl",
    "{\\f0\\fcharset128 A;}", "\\f0 ", "\\f99 ", "\\bin5 ", 'HYPERLINK "x"',
    "{\\field{\\*\\fldinst ", "{\\fldrslt ", "\\\\", "\\~", "\\-", "\\cell ", "\\row ",
    "a", " ", "\n", "\x00", "é", "日本",
)  # fmt: skip
EMAIL_TOKENS = (
    "From: a@x\n", "To: b@x\n", "Subject: ", "=?utf-8?b?", "=?iso-8859-1?q?caf=E9?=", "?=",
    'Content-Type: multipart/mixed; boundary="b"\n', "Content-Type: text/html\n",
    "Content-Type: text/plain; charset=x-bad\n", "Content-Type: message/rfc822\n",
    "Content-Transfer-Encoding: base64\n", "Content-Transfer-Encoding: quoted-printable\n",
    'Content-Disposition: attachment; filename="a.pdf"\n', "MIME-Version: 1.0\n", "\n",
    "--b\n", "--b--\n", "=\n", "=E9", "<p>hi</p>", "AAAA", "\x00", " ", "\t", "é",
)  # fmt: skip
rtf_documents = st.lists(st.sampled_from(RTF_TOKENS), max_size=60).map("".join)
email_documents = st.lists(st.sampled_from(EMAIL_TOKENS), max_size=60).map("".join)
document_bytes = st.one_of(
    st.binary(max_size=4096),
    encoded_markup,
    st.tuples(
        st.sampled_from(
            [
                *(
                    b"%PDF-",
                    b"PK\x03\x04",
                    b"\xff\xfe",
                    b"\xfe\xff",
                    b"\xef\xbb\xbf",
                    b"\xed\xa0\x80",
                ),
                *(b"<?xml ", b"WEBVTT\n\n", b"1\n00:00:01,000 --> 00:00:02,000\n", b'{"cells": ['),
                b"From x Mon Jan  1 00:00:00 2024\nSubject: s\n\n",
            ]
        ),
        st.binary(max_size=512),
    ).map(b"".join),
)
filenames = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.sampled_from(["a.md", "../../etc/passwd", "x.MARKDOWN", "C:\\x\\y.txt", ".", "\x00.md"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _can_cross_the_sandbox(parsed: ParsedText) -> None:
    """The sandbox sends results between processes as msgpack: they must encode."""
    msgspec.msgpack.decode(msgspec.msgpack.encode(parsed), type=ParsedText)


# -- the upload validator -------------------------------------------------------------------


@BOUNDED
@given(
    data=document_bytes,
    filename=filenames,
    metadata=st.one_of(st.none(), st.text(max_size=64), json_values.map(json.dumps)),
    max_bytes=st.integers(min_value=0, max_value=8192),
)
def test_an_upload_is_accepted_or_refused_with_a_4xx_and_a_reason(
    data: bytes, filename: str | None, metadata: str | None, max_bytes: int
) -> None:
    try:
        upload = validate_upload(
            tenant_id="t",
            data=data,
            sha256="0" * 64,
            filename=filename,
            metadata_json=metadata,
            max_bytes=max_bytes,
        )
    except UploadRejectedError as refusal:
        assert 400 <= refusal.status < 500
        assert refusal.title and refusal.detail
        return
    assert upload.media_type in ALLOWED_MEDIA_TYPES
    assert upload.size == len(data) <= max_bytes
    assert isinstance(upload.metadata, dict)


@BOUNDED
@given(data=document_bytes, filename=filenames)
def test_sniffing_names_an_allowed_type_or_none(data: bytes, filename: str | None) -> None:
    assert sniff_media_type(data, filename) in ALLOWED_MEDIA_TYPES | {None}


@BOUNDED
@given(name=filenames)
def test_a_sanitised_filename_is_one_safe_base_name(name: str | None) -> None:
    clean = sanitize_filename(name)
    assert clean and len(clean) <= MAX_FILENAME_CHARS
    assert "/" not in clean and "\\" not in clean
    assert all(unicodedata.category(ch)[0] != "C" for ch in clean)
    assert not clean.startswith(".")


@BOUNDED
@given(
    raw=st.one_of(
        st.none(), st.text(max_size=80), st.binary(max_size=80), json_values.map(json.dumps)
    )
)
def test_metadata_is_an_object_or_a_400(raw: str | bytes | None) -> None:
    try:
        assert isinstance(parse_metadata(raw), dict)
    except UploadRejectedError as refusal:
        assert refusal.status == 400 and refusal.detail


@BOUNDED
@given(key=st.one_of(st.none(), st.text(max_size=300)))
def test_an_idempotency_key_is_usable_or_a_400(key: str | None) -> None:
    try:
        checked = check_idempotency_key(key)
    except UploadRejectedError as refusal:
        assert refusal.status == 400
        return
    assert checked is None or (0 < len(checked) <= 255 and checked.isprintable())


# -- the event decoder ------------------------------------------------------------------------


def _golden(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return value


@st.composite
def damaged_events(draw: st.DrawFn) -> bytes:
    """A golden event with one field replaced, removed or added, as JSON bytes."""
    event = _golden(draw(st.sampled_from(GOLDEN)))
    key = draw(st.sampled_from(sorted(event)))
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        event[key] = draw(json_values)
    elif action == "remove":
        del event[key]
    else:
        event[draw(st.text(max_size=12))] = draw(json_values)
    return json.dumps(event).encode()


@BOUNDED
@given(
    data=st.one_of(
        st.none(),
        st.binary(max_size=512),
        json_values.map(lambda v: json.dumps(v).encode()),
        damaged_events(),
        st.sampled_from(GOLDEN)
        .map(Path.read_bytes)
        .flatmap(lambda raw: st.integers(0, len(raw)).map(lambda cut: raw[:cut])),
    )
)
def test_the_event_decoder_returns_an_event_or_an_event_decode_error(data: bytes | None) -> None:
    try:
        event = decode(data)
    except EventDecodeError as error:
        assert error.code and error.message
        return
    assert decode(encode(event)) == event


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
def test_every_golden_event_still_decodes(path: Path) -> None:
    event = decode(path.read_bytes())
    assert decode(encode(event)) == event


# -- the text parsers -------------------------------------------------------------------------


@BOUNDED
@given(
    data=document_bytes,
    media_type=st.sampled_from([PLAIN, MARKDOWN, HTML, EMAIL, RTF, XML, VTT, SRT, SBV, NOTEBOOK]),
)
def test_text_documents_parse_to_text_or_a_parse_error_with_a_code(
    data: bytes, media_type: str
) -> None:
    try:
        parsed = extract(data, media_type)
    except ParseError as error:
        assert error.code in ERROR_CODES and error.message
        return
    assert parsed.text.strip()
    _can_cross_the_sandbox(parsed)


@BOUNDED
@given(
    text=st.one_of(rtf_documents.map(lambda t: (RTF, t)), email_documents.map(lambda t: (EMAIL, t)))
)
def test_rtf_and_email_parse_to_text_or_a_parse_error_with_a_code(text: tuple[str, str]) -> None:
    media_type, document = text
    for data in _encodings(document):
        try:
            parsed = extract(data, media_type)
        except ParseError as error:
            assert error.code in ERROR_CODES and error.message
            continue
        assert parsed.text.strip()
        _can_cross_the_sandbox(parsed)


@BOUNDED
@given(text=markup)
@pytest.mark.parametrize("extract_markup", [extract_html, extract_markdown], ids=["html", "md"])
def test_markup_reduces_to_text_or_a_parse_error(
    extract_markup: Callable[[str], ParsedText], text: str
) -> None:
    try:
        parsed = extract_markup(text)
    except ParseError as error:
        assert error.code in ERROR_CODES and error.message
        return
    _can_cross_the_sandbox(parsed)


@BOUNDED
@given(data=st.one_of(st.binary(max_size=1024), encoded_markup))
def test_decoding_text_gives_a_string_or_a_decode_error(data: bytes) -> None:
    try:
        text = decode_text(data)
    except ParseError as error:
        assert error.code == DECODE_ERROR and error.message
        return
    assert isinstance(text, str)
