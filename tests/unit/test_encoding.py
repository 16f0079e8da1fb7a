"""Unit tests for encoding detection (services/common/encoding.py)."""

from __future__ import annotations

import pytest

from services.common.encoding import (
    detect_encoding,
    mostly_utf8,
    sample_of,
    telling_sample,
    utf8_whatever_its_label,
)

pytestmark = pytest.mark.unit

JAPANESE = "東京は日本の首都です。「テキスト」を読みます。\n"
WESTERN = (
    "\u201cSmart quotes\u201d \u2013 the caf\u00e9\u2019s menu costs \u20ac5; "
    "na\u00efve fa\u00e7ade.\n"
)

TEXTS: dict[str, tuple[str, str]] = {
    "shift-jis": (JAPANESE, "shift_jis"),
    "utf-16-le japanese": (JAPANESE, "utf-16-le"),
    "utf-16-be japanese": (JAPANESE, "utf-16-be"),
    "utf-16-le ascii": ("plain words\n", "utf-16-le"),
    "utf-8 japanese": (JAPANESE, "utf-8"),
    "windows-1252": (WESTERN, "cp1252"),
    "euc-jp": (JAPANESE, "euc_jp"),
}


@pytest.mark.parametrize("name", TEXTS)
@pytest.mark.parametrize("size", [1000, 1001, 4096, 65_536])
def test_a_sample_is_cut_between_characters(name: str, size: int) -> None:
    text, encoding = TEXTS[name]
    data = (text * 4000).encode(encoding)
    sample = sample_of(data, size=size)
    assert size - 64 <= len(sample) <= size
    assert text[:5] in sample.decode(encoding)  # strict: raises on a split character


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ((WESTERN * 3).encode("cp1252"), "cp1252"),
        ("naïve façade".encode("latin-1"), "cp1252"),
        ((JAPANESE * 3).encode("shift_jis"), "cp932"),
        ((JAPANESE * 3).encode("utf-16-le"), "utf-16-le"),
        (b"\xef\xbb\xbfBOM", "utf-8-sig"),
        ("x".encode("utf-16"), "utf-16"),
        (b"plain", "utf-8"),
        ((JAPANESE * 3).encode(), "utf-8"),
        (bytes(range(256)) * 8, None),
    ],
    ids=[
        "cp1252",
        "latin-1 short",
        "shift-jis",
        "utf-16le",
        "utf-8 bom",
        "utf-16 bom",
        "ascii",
        "utf-8",
        "binary",
    ],
)
def test_detect_encoding(data: bytes, expected: str | None) -> None:
    assert detect_encoding(data) == expected


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (JAPANESE, "iso2022_jp"),
        ("東京と서울\n", "iso2022_jp_2"),
        ("서울은 한국의 수도입니다.\n", "iso2022_kr"),
    ],
    ids=["iso-2022-jp", "iso-2022-jp-2", "iso-2022-kr"],
)
@pytest.mark.parametrize("size", [1000, 1001, 4096])
def test_an_escape_sequence_encoding_is_recognised(text: str, codec: str, size: int) -> None:
    # 7-bit, so it decodes as ASCII full of ESC controls: Japanese mail was refused as binary.
    data = (text * 400).encode(codec)
    assert data.isascii()
    sample = sample_of(data, size=size)
    encoding = detect_encoding(sample)
    assert encoding is not None
    assert text * 3 in sample.decode(encoding, errors="replace")


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("Příliš žluťoučký kůň úpěl ďábelské ódy. Šťastný žák řešil úlohu.\n", "iso8859_2"),
        ("Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig.\n", "iso8859_2"),
        ("Kŕdeľ šťastných ďatľov učí pri ústí Váhu mĺkveho koňa obhrýzať kôru.\n", "iso8859_2"),
        ("Az árvíztűrő tükörfúrógép erősen működik, a kőművesek délután dolgoznak.\n", "cp1250"),
        ("Pijamalı hasta yağız şoföre çabucak güvendi. İstanbul'da ılık bir gün.\n", "iso8859_9"),  # noqa: RUF001 (dotless i)
    ],
    ids=["czech latin-2", "polish latin-2", "slovak latin-2", "hungarian windows-1250", "turkish"],
)
def test_central_european_and_turkish_text_is_not_read_as_another_code_page(
    text: str, codec: str
) -> None:
    # Read as Windows-1250 (or 1252), Latin-2's š, ž, ą became ą, ľ, ± in the index.
    data = (text * 2).encode(codec)
    encoding = detect_encoding(data)
    assert encoding is not None
    assert data.decode(encoding) == text * 2


def test_ascii_with_terminal_colour_escapes_stays_utf_8() -> None:
    assert detect_encoding(b"\x1b[31mred\x1b[0m and \x1b(B plain\n") == "utf-8"


def test_a_long_ascii_preamble_does_not_hide_the_encoding() -> None:
    data = b"ascii only\n" * 100_000 + (WESTERN * 10).encode("cp1252")
    assert detect_encoding(telling_sample(data)) == "cp1252"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("I\u2019m at the café".encode(), True),
        (b"plain ASCII", False),  # any label reads it alike
        ("café".encode("latin-1"), False),
        ("洪水の報告です".encode("shift_jis"), False),
        ("Отчёт".encode("koi8-r"), False),
        ("I\u2019m".encode("utf-16-le"), False),  # NULs: UTF-16 keeps its label
    ],
)
def test_utf8_whatever_its_label(data: bytes, expected: bool) -> None:
    assert utf8_whatever_its_label(data) is expected


# trafilatura's maescot.de page: UTF-8 (its charset says so) but for one Latin-1 byte in a
# script's comment; detection named Windows-1252 for the whole, and "weiß" became "weiÃŸ".
GERMAN = "M\u00e4scot, das Schaf: Standardausf\u00fchrung, wei\u00df. "
MIXED = (GERMAN * 4).encode() + "/* M\u00e4scot Breit */".encode("latin-1")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (MIXED, GERMAN * 4 + "/* M\u00e4scot Breit */"),
        ((WESTERN * 4).encode("cp1252"), None),
        ((JAPANESE * 4).encode("shift_jis"), None),
        (
            (
                "\u041e\u0442\u0447\u0451\u0442 \u043e \u043f\u0430\u0432\u043e\u0434\u043a\u0435. "
                * 8
            ).encode("cp1251"),
            None,
        ),
        (
            ("P\u0159\u00edli\u0161 \u017elu\u0165ou\u010dk\u00fd k\u016f\u0148 " * 4).encode(
                "iso8859_2"
            ),
            None,
        ),
        ((GERMAN * 3).encode(), None),  # UTF-8 throughout: nothing to mend
        ((GERMAN * 3).encode("utf-16-le") + b"\xe4", None),  # NULs: UTF-16
    ],
    ids=[
        "utf-8 with a latin-1 byte",
        "windows-1252",
        "shift_jis",
        "windows-1251",
        "latin-2",
        "utf-8",
        "utf-16",
    ],
)
def test_mostly_utf8_mends_only_utf8_with_a_few_stray_bytes(
    data: bytes, expected: str | None
) -> None:
    assert mostly_utf8(data) == expected
