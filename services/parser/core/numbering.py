"""The numbers Word draws before numbered paragraphs ("1.", "2.3", "a)", "iv."), worked out
from the document's numbering part, so that the text says "4.2 Termination" where the
document shows it: a contract's clauses, a report's numbered headings, the steps of a
procedure. Word keeps none of these numbers in the text; it counts them as it lays the
document out.

No library computes them: python-docx reads no numbering, and the converters that do
(docx2python, mammoth) are whole DOCX readers of their own. What is followed here
(ECMA-376 part 1, 17.9): a paragraph's own `w:numPr` (`w:numId` 0 takes a style's numbering
away), else its style's (through `w:basedOn`), its level from `w:ilvl`, else the level whose
`w:pStyle` names the style; `w:num` instances of one `w:abstractNum` count on from one another
unless a `w:startOverride` restarts them; an `w:numStyleLink` followed once; each level's
`w:start`, `w:numFmt`, `w:lvlText` ("%1.%2."), `w:isLgl` and `w:lvlRestart`. Bullets give no
label (a bullet says nothing a search could use); formats beyond the common ones count in
decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_VAL = f"{_W}val"
LEVELS = 9  # w:ilvl 0-8
# A start or override beyond this is taken as damage, not a list
MAX_START = 1_000_000
# Letters repeat past "z" ("aa", "bbb"); past this count (30 letters) the count is decimal
_MAX_LETTERS = 26 * 30
_ROMAN = (
    (1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
    (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"),
)  # fmt: skip


@dataclass(frozen=True)
class _Level:
    start: int = 1
    format: str = "decimal"
    text: str | None = None
    legal: bool = False
    restart: int | None = None  # w:lvlRestart: the level (1-based) whose use restarts this


class Numbering:
    """Labels numbered paragraphs in document order; `label` is called once per paragraph,
    in reading order, since each call counts."""

    def __init__(self, numbering: Any | None, styles: Any | None) -> None:
        self._abstract: dict[str, dict[int, _Level]] = {}
        self._style_links: dict[str, str] = {}  # abstractNumId -> style it takes its list from
        self._instances: dict[str, tuple[str, dict[int, _Level], dict[int, int]]] = {}
        self._style_numbering: dict[str, tuple[str | None, int | None]] = {}
        self._style_parent: dict[str, str] = {}
        self._style_levels: dict[str, tuple[str, int]] = {}  # style -> (abstractNumId, level)
        # The counts of each abstract numbering, level by level (None: not used yet)
        self._counters: dict[str, list[int | None]] = {}
        self._started: set[str] = set()  # instances whose overrides have been applied
        if numbering is not None:
            self._read_numbering(numbering)
        if styles is not None:
            self._read_styles(styles)

    def _read_numbering(self, root: Any) -> None:
        self._read_abstract(root)
        self._read_instances(root)

    def _read_abstract(self, root: Any) -> None:
        for abstract in root.iter(f"{_W}abstractNum"):
            key = abstract.get(f"{_W}abstractNumId")
            if key is None:
                continue
            levels = {}
            for level in abstract.iter(f"{_W}lvl"):
                number = _int(level.get(f"{_W}ilvl"))
                if number is not None and 0 <= number < LEVELS:
                    levels[number] = _level(level)
                    linked = _child_val(level, "pStyle")
                    if linked is not None:
                        self._style_levels.setdefault(linked, (key, number))
            self._abstract[key] = levels
            link = _child_val(abstract, "numStyleLink")
            if link is not None:
                self._style_links[key] = link

    def _read_instances(self, root: Any) -> None:
        for instance in root.iter(f"{_W}num"):
            key = instance.get(f"{_W}numId")
            abstract_id = _child_val(instance, "abstractNumId")
            if key is None or abstract_id is None:
                continue
            levels = dict(self._abstract.get(abstract_id, {}))
            restarts: dict[int, int] = {}
            for override in instance.iter(f"{_W}lvlOverride"):
                number = _int(override.get(f"{_W}ilvl"))
                if number is None or not 0 <= number < LEVELS:
                    continue
                for level in override.iter(f"{_W}lvl"):
                    levels[number] = _level(level)
                start = _int(_child_val(override, "startOverride"))
                if start is not None and 0 <= start <= MAX_START:
                    restarts[number] = start
            self._instances[key] = (abstract_id, levels, restarts)

    def _read_styles(self, root: Any) -> None:
        for style in root.iter(f"{_W}style"):
            key = style.get(f"{_W}styleId")
            if key is None:
                continue
            parent = _child_val(style, "basedOn")
            if parent is not None:
                self._style_parent[key] = parent
            for properties in style.iter(f"{_W}numPr"):
                number_id = _child_val(properties, "numId")
                self._style_numbering[key] = (number_id, _int(_child_val(properties, "ilvl")))
                break

    def label(self, paragraph: Any, style: str | None) -> str | None:
        """The label Word draws before `paragraph` (a `w:p`) of paragraph style `style`, e.g.
        "2.1."; None when it is not numbered, or is a bullet or an empty label."""
        found = self._numbering_of(paragraph, style)
        if found is None:
            return None
        number_id, level_number = found
        instance = self._instance(number_id)
        if instance is None:
            return None
        abstract_id, levels, restarts = instance
        level = levels.get(level_number)
        if level is None:
            return None
        counters = self._counters.setdefault(abstract_id, [None] * LEVELS)
        if number_id not in self._started:
            self._started.add(number_id)
            for number, start in restarts.items():
                counters[number] = start - 1
        for higher in range(level_number):  # a skipped level shows, and so takes, its start
            if counters[higher] is None:
                counters[higher] = levels.get(higher, _Level()).start
        current = counters[level_number]
        counters[level_number] = level.start if current is None else current + 1
        for deeper in range(level_number + 1, LEVELS):
            restart = levels.get(deeper, _Level()).restart
            if restart is None or restart > level_number:  # 0: never restarts
                counters[deeper] = None
        return _render(level, levels, counters)

    def _numbering_of(self, paragraph: Any, style: str | None) -> tuple[str, int] | None:
        """The (numId, level) a paragraph is numbered with: its own, else its style's."""
        own = paragraph.find(f"{_W}pPr/{_W}numPr")
        if own is not None:
            number_id = _child_val(own, "numId")
            level = _int(_child_val(own, "ilvl"))
            if number_id is not None:
                return self._with_level(number_id, level, style)
            if level is not None and style is not None:  # a level for the style's list
                inherited = self._style_numbering_of(style)
                if inherited is not None:
                    return self._with_level(inherited[0], level, style)
        if style is None:
            return None
        inherited = self._style_numbering_of(style)
        return None if inherited is None else self._with_level(*inherited, style)

    def _style_numbering_of(self, style: str) -> tuple[str, int | None] | None:
        """A style's list and level, each from the nearest style of its `w:basedOn` chain
        that names it (a "Heading 2" may name only its level in "Heading 1"'s list)."""
        seen: set[str] = set()
        current: str | None = style
        level: int | None = None
        while current is not None and current not in seen:
            seen.add(current)
            number_id, own_level = self._style_numbering.get(current, (None, None))
            level = own_level if level is None else level
            if number_id is not None:
                return number_id, level
            current = self._style_parent.get(current)
        return None

    def _with_level(
        self, number_id: str, level: int | None, style: str | None
    ) -> tuple[str, int] | None:
        if number_id == "0":
            return None  # numbering taken away
        if level is None and style is not None and style in self._style_levels:
            level = self._style_levels[style][1]
        level = 0 if level is None else level
        return (number_id, level) if 0 <= level < LEVELS else None

    def _instance(self, number_id: str) -> tuple[str, dict[int, _Level], dict[int, int]] | None:
        instance = self._instances.get(number_id)
        if instance is None:
            return None
        link = self._style_links.get(instance[0])
        if link is not None and not instance[1]:  # the list is the linked style's
            linked = self._style_numbering.get(link, (None, None))[0]
            if linked is not None and linked != number_id:
                target = self._instances.get(linked)
                if target is not None and target[0] not in self._style_links:
                    return target[0], target[1], instance[2]
        return instance


def _render(level: _Level, levels: dict[int, _Level], counters: list[int | None]) -> str | None:
    """The level's `w:lvlText` with each `%N` replaced by level N's count in its format."""
    if level.format == "bullet" or level.text is None or "%" not in level.text:
        return None  # a bullet, or a fixed sign (often a symbol font's private character)
    text = level.text
    for number in range(LEVELS):
        placeholder = f"%{number + 1}"
        if placeholder not in text:
            continue
        shown = levels.get(number, _Level())
        value = counters[number]
        if value is None:
            value = shown.start
        kind = "decimal" if level.legal else shown.format
        text = text.replace(placeholder, format_count(value, kind))
    text = text.strip()
    return text or None


def format_count(value: int, kind: str) -> str:
    """A count written in a Word number format (`decimal`, `lowerLetter`, `upperRoman`, ...;
    the slides' automatic numbers use it too)."""
    if kind in ("none", "bullet"):
        return ""
    if kind in ("lowerLetter", "upperLetter") and 0 < value <= _MAX_LETTERS:
        letter = chr(ord("a") + (value - 1) % 26) * ((value - 1) // 26 + 1)
        return letter.upper() if kind == "upperLetter" else letter
    if kind in ("lowerRoman", "upperRoman") and 0 < value < 4000:
        roman = ""
        for amount, numeral in _ROMAN:
            while value >= amount:
                roman += numeral
                value -= amount
        return roman.upper() if kind == "upperRoman" else roman
    if kind == "decimalZero":
        return f"{value:02d}"
    return str(value)


def _level(element: Any) -> _Level:
    start = _int(_child_val(element, "start"))
    restart = _int(_child_val(element, "lvlRestart"))
    legal = element.find(f"{_W}isLgl")
    return _Level(
        start=start if start is not None and 0 <= start <= MAX_START else 1,
        format=_child_val(element, "numFmt") or "decimal",
        text=_child_val(element, "lvlText"),
        legal=legal is not None and legal.get(_VAL, "1") not in ("0", "false", "off"),
        restart=restart,
    )


def _child_val(element: Any, name: str) -> str | None:
    child = element.find(f"{_W}{name}")
    return None if child is None else child.get(_VAL)


def whole_number(text: str | None, lowest: int, highest: int = MAX_START) -> int | None:
    """A count an attribute writes in digits (an ODF level or start, a slide's `startAt`),
    from `lowest` to `highest`; else None: absent, or damage rather than a list."""
    if text is None or not text.isdecimal():
        return None
    value = int(text)
    return value if lowest <= value <= highest else None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None
