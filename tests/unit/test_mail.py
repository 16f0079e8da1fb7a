"""E-mail (.eml) to text: headers, the body a person reads, attachment names, attached
messages; never the attachments' base64; a mailbox (.mbox) message by message, each under
its subject (services/parser/core/mail.py)."""

from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest

from services.common.media import EMAIL, PLAIN, sniff_media_type
from services.parser.core.errors import ParseError
from services.parser.core.extract import extract
from tests.fixtures.corpus import corpus_file
from tests.fixtures.scaling import LINEAR_GROWTH_BOUND, growth

pytestmark = pytest.mark.unit

PICTURE = bytes(range(256)) * 64  # 16 KiB of bytes no text holds


def message(
    body: str = "The river rose overnight.", *, subject: str = "Flood report"
) -> EmailMessage:
    """A message with the usual headers and a plain-text body."""
    mail = EmailMessage()
    mail["From"] = "Ana Lima <ana@example.org>"
    mail["To"] = "ops@example.org"
    mail["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    mail["Subject"] = subject
    mail.set_content(body)
    return mail


def read(mail: EmailMessage | bytes) -> str:
    data = mail if isinstance(mail, bytes) else mail.as_bytes()
    return extract(data, EMAIL).text


def test_headers_then_the_body_and_the_subject_is_the_title() -> None:
    parsed = extract(message().as_bytes(), EMAIL)
    assert parsed.text.splitlines()[:4] == [
        "From: Ana Lima <ana@example.org>",
        "To: ops@example.org",
        "Date: Tue, 01 Dec 2026 09:00:00 +0000",
        "Subject: Flood report",
    ]
    assert parsed.text.endswith("The river rose overnight.")
    assert parsed.title == "Flood report"


def test_an_encoded_subject_is_decoded() -> None:
    mail = message(subject="Relatório de cheias, março")  # RFC 2047 words on the wire
    assert b"=?utf-8?" in mail.as_bytes()
    assert extract(mail.as_bytes(), EMAIL).title == "Relatório de cheias, março"


def test_the_plain_version_of_an_alternative_is_read_once() -> None:
    mail = message("Levels: 3.2 m at the weir.")
    mail.add_alternative(
        "<html><body><p>Levels: <b>3.2 m</b> at the weir.</p></body></html>", subtype="html"
    )
    text = read(mail)
    assert text.count("3.2 m at the weir") == 1
    assert "<b>" not in text


def test_an_html_only_message_is_read_as_its_visible_text() -> None:
    mail = message()
    mail.set_content(
        "<html><head><style>p{}</style></head><body><h1>Alert</h1>"
        "<p>Close the gates.</p></body></html>",
        subtype="html",
    )
    text = read(mail)
    assert "Alert" in text and "Close the gates." in text
    assert "p{}" not in text


def test_attachments_are_named_and_their_bytes_left_out() -> None:
    mail = message()
    mail.add_attachment(PICTURE, maintype="image", subtype="png", filename="gauge.png")
    encoded = base64.b64encode(PICTURE[:300]).decode()[:40]
    assert encoded in mail.as_string()  # what was indexed as text before
    text = read(mail)
    assert text.endswith("Attachments: gauge.png")
    assert encoded not in text


def test_an_attached_message_is_read_after_its_parent() -> None:
    inner = message("Second gauge failed at 04:10.", subject="Gauge 2")
    outer = message("Forwarding the night report.", subject="Fwd: Gauge 2")
    outer.add_attachment(inner)
    text = read(outer)
    assert text.index("Forwarding the night report.") < text.index("Subject: Gauge 2")
    assert text.index("Subject: Gauge 2") < text.index("Second gauge failed at 04:10.")


def test_a_message_saved_as_utf16_is_read() -> None:
    data = message().as_string().encode("utf-16")
    assert read(data).endswith("The river rose overnight.")


def test_an_unknown_charset_falls_back_to_detection() -> None:
    data = (
        b"From: a@example.org\nTo: b@example.org\nSubject: x\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\n\nCaf\xe9 au lait.\n"
    )
    assert read(data).endswith("Café au lait.")


@pytest.mark.parametrize(
    ("raw", "body_charset", "expected"),
    [
        # Ruby mail's error_emails/invalid_subject_characters.eml: Latin bytes, no charset named
        (
            b"Forma\xe7\xe3o: Mega Campanha Final Ver\xe3o",
            None,
            "Formação: Mega Campanha Final Verão",
        ),
        # the charset the message names for its text is the one its program wrote headers in
        ("Ρεκόρ πωλήσεων".encode("iso-8859-7"), "iso-8859-7", "Ρεκόρ πωλήσεων"),
        ("Отчёт за квартал".encode("koi8-r"), "koi8-r", "Отчёт за квартал"),
        # a UTF-16 body's label is no charset for 8-bit bytes (any even count decodes)
        (b"Caf\xe9 cr\xe8me", "utf-16", "Café crème"),
        # valid UTF-8 (RFC 6532) stays as the standard library reads it
        ("Säying Hello".encode(), None, "Säying Hello"),
    ],
)
def test_a_header_in_raw_8bit_bytes_is_read_in_the_messages_charset(
    raw: bytes, body_charset: str | None, expected: str
) -> None:
    content_type = (
        f"Content-Type: text/plain; charset={body_charset}\n".encode() if body_charset else b""
    )
    data = (
        b"From: a@example.org\nTo: b@example.org\nSubject: "
        + raw
        + b"\n"
        + content_type
        + b"\nThe river rose overnight.\n"
    )
    assert f"Subject: {expected}\n" in read(data)


def test_a_raw_header_beside_encoded_words_keeps_both() -> None:
    data = b"From: a@example.org\nSubject: Caf\xe9 =?utf-8?q?cr=C3=A8me?=\n\nx\n"
    assert "Subject: Café crème" in read(data)


def test_a_japanese_message_in_iso_2022_jp_is_accepted_and_read() -> None:
    # Still how most Japanese mail is sent; 7-bit, so its escapes looked like binary (415).
    mail = message("\u672c\u6587\u3067\u3059\u3002", subject="\u65e5\u672c\u8a9e")
    mail.replace_header("Content-Type", 'text/plain; charset="iso-2022-jp"')
    body = "\u672c\u6587\u3067\u3059\u3002\n" * 4
    mail.set_payload(body.encode("iso2022_jp").decode("ascii"))
    mail.replace_header("Subject", "=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=")
    data = mail.as_bytes()
    assert data.isascii() and b"\x1b$B" in data
    assert sniff_media_type(data, "mail.eml") == EMAIL
    text = read(data)
    assert text.startswith("From: Ana Lima") and text.endswith("\u672c\u6587\u3067\u3059\u3002")
    assert "Subject: \u65e5\u672c\u8a9e" in text


def test_headers_alone_are_text_and_no_body_is_no_crash() -> None:
    assert read(b"From: a@example.org\nTo: b@example.org\nSubject: Only this\n\n") == (
        "From: a@example.org\nTo: b@example.org\nSubject: Only this"
    )


def test_garbage_labelled_as_email_ends_with_text_or_a_named_failure() -> None:
    try:
        text = read(b"\x00\xff" * 500 + b"--b\n" * 50)
    except ParseError as error:
        assert error.code in {"no_text", "decode_error", "corrupt_file"}
    else:
        assert isinstance(text, str)


SNIFFED = [
    (b"From: a@example.org\nTo: b@example.org\nSubject: Hi\n\nBody\n", EMAIL),
    (
        b"From a@example.org Tue Dec  1 09:00:00 2026\nFrom: a@example.org\n"
        b"Date: Tue, 1 Dec 2026 09:00:00 +0000\nMessage-ID: <1@x>\n\nBody\n",
        EMAIL,
    ),
    (b"Received: from mx\n\tby mx2\nFrom: a@example.org\nTo: b@example.org\n\nBody\n", EMAIL),
    # A mailbox's first message: its postmark, then any header (Tika's single_mail.mbox).
    (b"From - Mon Jun 01 04:28:28 2009\nContent-Type: text/html; charset=utf-8\n\n<p>Hi", EMAIL),
    (b"From the desk of Ana\nSubject: levels\n\nBody\n", PLAIN),
    # A MIME message without From: an S/MIME signed message saved alone (Unstructured's .p7s)
    (b"MIME-Version: 1.0\nContent-Type: multipart/signed; boundary=b\n\n--b\nHi\n", EMAIL),
    (b"From - Mon Jun 01 04:28:28 2009\n\nA postmark and no header\n", PLAIN),
    # Not e-mail: prose that quotes headers, and headers without From or with one other field.
    (b"Notes from the call.\nFrom: Ana\nTo: ops\nSubject: levels\n", PLAIN),
    (b"Title: Levels\nAuthor: Ana\nDate: 2026-12-01\n\nBody\n", PLAIN),
    (b"From: Ana\nTo: ops\n\nBody\n", PLAIN),
]


@pytest.mark.parametrize(("data", "expected"), SNIFFED, ids=range(len(SNIFFED)))
def test_an_email_is_recognised_from_its_headers(data: bytes, expected: str) -> None:
    assert sniff_media_type(data, "upload") == expected


def test_a_body_that_is_not_text_in_an_unknown_charset_costs_only_itself() -> None:
    data = (
        b"From: a@example.org\nTo: b@example.org\nSubject: Readings\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\n"
        b"Content-Transfer-Encoding: base64\n\n" + base64.b64encode(bytes(range(256)) * 8) + b"\n"
    )
    assert read(data) == "From: a@example.org\nTo: b@example.org\nSubject: Readings"


def postmarked(mail: EmailMessage, sender: str = "ana@example.org") -> bytes:
    return f"From {sender} Tue Dec  1 09:00:00 2026\n".encode() + mail.as_bytes() + b"\n"


def test_a_mailbox_is_read_message_by_message_under_their_subjects() -> None:
    # Read as one message, the second was the first one's body: its raw headers and its
    # base64 attachment were indexed as text.
    second = message("Gates 3 and 4 only.", subject="Re: Flood report")
    second.add_attachment(PICTURE, maintype="image", subtype="png", filename="weir.png")
    data = postmarked(message()) + postmarked(second, "ops@example.org")
    assert sniff_media_type(data, "mail.mbox") == EMAIL
    parsed = extract(data, EMAIL)
    second_at = parsed.text.index("Re: Flood report")
    assert [(h.start, h.title) for h in parsed.headings] == [
        (0, "Flood report"),
        (second_at, "Re: Flood report"),
    ]
    assert parsed.text[second_at:].splitlines()[-3:] == [
        "Gates 3 and 4 only.",
        "",
        "Attachments: weir.png",
    ]
    assert base64.b64encode(PICTURE[:48]).decode() not in parsed.text
    assert "Content-Type" not in parsed.text
    assert parsed.title is None


def test_a_body_line_starting_with_from_does_not_split_a_message() -> None:
    data = postmarked(message("From here on the gates stay shut.\nFrom 9 to 5 daily."))
    parsed = extract(data, EMAIL)
    assert parsed.headings == []
    assert parsed.text.endswith("From here on the gates stay shut.\nFrom 9 to 5 daily.")


def test_a_real_mailbox_reads_its_three_messages() -> None:
    parsed = extract(corpus_file("tika/complex.mbox").read(), EMAIL)  # Apache Tika's
    assert [h.title for h in parsed.headings] == [
        "Re: question about when shuffle/sort start working"
    ] * 3
    assert "Received:" not in parsed.text


def test_splitting_a_mailbox_grows_linearly() -> None:
    def mailbox(count: int) -> bytes:
        return b"From x Mon \nSubject: s\n\nb\n" * count

    assert len(extract(mailbox(2_000), EMAIL).headings) == 2_000
    assert growth(lambda data: extract(data, EMAIL), mailbox(1_000), mailbox(4_000)) < (
        LINEAR_GROWTH_BOUND
    )


def labelled(body: bytes, charset: str) -> bytes:
    """A message whose quoted-printable body is `body` under `charset` in its header."""
    encoded = "".join(f"={byte:02X}" if byte > 126 else chr(byte) for byte in body)
    return (
        "From: news@example.org\r\nSubject: Digest\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset={charset}\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        f"{encoded}\r\n"
    ).encode("ascii")


@pytest.mark.parametrize("charset", ["iso-8859-1", "us-ascii", "windows-1252", '"UTF_8"'])
def test_a_utf8_body_under_another_label_is_read_as_utf8(charset: str) -> None:
    # Unstructured's example-docs/eml/email-replace-mime-encodings-error-4.eml: a bulk
    # sender's UTF-8 body labelled iso-8859-1 read "Dear webpageÂ\xa0 team, Iâ\x80\x99m".
    words = "Dear webpage\u00a0team, I\u2019m Ihor \u2014 café"
    text = read(labelled(words.encode(), charset))
    assert words in text
    assert "â" not in text and "Â" not in text


@pytest.mark.parametrize(
    ("words", "charset"),
    [
        ("Relatório de cheias: março, ©, ±2 cm", "iso-8859-1"),
        ("Na prática, “o rio” subiu", "windows-1252"),
        ("Отчёт о паводке", "koi8-r"),  # noqa: RUF001 - Cyrillic text
        ("洪水の報告です", "shift_jis"),
        ("洪水报告", "gb2312"),
    ],
)
def test_a_body_in_its_labelled_code_page_is_read_by_its_label(words: str, charset: str) -> None:
    assert words in read(labelled(words.encode(charset), charset))
