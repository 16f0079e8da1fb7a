"""Outlook messages (`.msg`) read as e-mails read (services/parser/core/outlook.py): headers,
body, attachment names, an attached message after it. The files are Apache Tika's and Apache
POI's test messages from the corpus, and edits of them."""

from __future__ import annotations

import pytest

from services.common.media import MSG, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from tests.fixtures.corpus import corpus_file

pytestmark = pytest.mark.unit


def test_a_message_reads_as_an_e_mail_its_subject_the_title() -> None:
    data = corpus_file("tika/testMSG.msg").read()
    assert sniff_media_type(data) == MSG
    parsed = extract(data, MSG)
    assert parsed.text.startswith(
        "From: Jukka Zitting <jukka.zitting@gmail.com>\nTo: tika-dev@lucene.apache.org\n"
        "Date: Thu, 29 Jan 2009 19:16:40 +0000\nSubject: MIME registry use cases\n\nHi,\n\n"
    )
    assert parsed.title == "MIME registry use cases"


def test_attachments_are_named_and_an_attached_message_follows() -> None:
    text = extract(corpus_file("tika/testMSG_att_msg.msg").read(), MSG).text
    assert text == (
        "From: Nick Booth\nTo: Nick Booth\nDate: Thu, 17 Jun 2010 23:54:19 +0000\n"
        "Subject: test email\n\nTest email with 1 msg attachment, 1 pdf\n\n"
        "Attachments: smbprn.00009008.KdcPjl.pdf\n\n"
        "From: Nick Booth\nTo: Nick Booth\nDate: Thu, 17 Jun 2010 23:52:19 +0000\n"
        "Subject: Test Attachment\n\nBlah blah blah"
    )


@pytest.mark.parametrize(
    ("path", "text"),
    [
        # 8-bit properties in the message's code page (Cyrillic, Windows-1251)
        ("poi/ASCII_CP1251_LCID1049.msg", "Subject: Subject автоматически Subject\n\nBody"),
        # its internet code page says UTF-8, which its HTML is in, not its 8-bit properties
        ("poi/ASCII_UTF-8_CP1252_LCID1031.msg", "Subject: Subject öäü Subject\n\nBody öäü"),
        # no plain-text body: the visible text of the HTML one, in the charset it declares
        ("poi/HTMLBodyBinary_UTF-8.msg", "Subject: Subject öäü Subject\n\nHTML öäü"),
        # an Exchange sender's directory name is no address: the name alone
        ("poi/quick.msg", "From: Kevin Roast\nTo: Kevin Roast\nDate:"),
    ],
)
def test_text_is_read_in_the_encoding_each_property_is_in(path: str, text: str) -> None:
    assert extract(corpus_file(path).read(), MSG).text.startswith(text)


def test_a_damaged_message_fails_with_the_readers_reason() -> None:
    data = corpus_file("tika/testMSG.msg").read()
    with pytest.raises(ParseError) as caught:
        extract(data[:1000], MSG)
    assert caught.value.code == "corrupt_file"
    assert "the Outlook message could not be read" in str(caught.value)


def test_a_message_kept_only_in_rich_text_is_read_from_its_rtf() -> None:
    # Tika's message with its plain body's stream renamed (same length, so the compound file
    # stays whole): what is left is its compressed RTF, as Outlook keeps a rich-text message.
    data = corpus_file("tika/testMSG.msg").read()
    body = "__substg1.0_1000001E".encode("utf-16-le")
    assert data.count(body) == 1
    rich_only = data.replace(body, "__substg1.0_7FF0001E".encode("utf-16-le"))
    text = extract(rich_only, MSG).text
    assert "As discussed, I've been working on making the type detection code more" in text
    assert "\\par" not in text and "fonttbl" not in text
