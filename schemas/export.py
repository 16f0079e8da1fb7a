"""Export every pipeline event's JSON Schema to `schemas/json/` (`python -m schemas.export`)."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path
from typing import Any, Final

import msgspec

from schemas import codec
from schemas.events import AnyEvent, version_of

OUT_DIR: Final = Path(__file__).resolve().parent / "json"
UNION_FILE: Final = "pipeline-events.json"


def event_types() -> tuple[type[msgspec.Struct], ...]:
    """Every event Struct in the tagged union, in declaration order."""
    return typing.get_args(AnyEvent)


def _render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def history() -> list[str]:
    """Schema files of the older versions consumers still accept: kept as written, never rendered.

    They document what an older producer writes (`DocumentParsed.v1.json`) and must stay.
    """
    return sorted(
        f"{cls.__name__}.v{version}.json"
        for cls in event_types()
        for version in codec.SUPPORTED_VERSIONS[cls.__name__]
        if version != version_of(cls)
    )


def render() -> dict[str, str]:
    """File name -> file text for the current version of every event, byte-for-byte stable."""
    files = {
        f"{cls.__name__}.v{version_of(cls)}.json": _render(msgspec.json.schema(cls))
        for cls in event_types()
    }
    files[UNION_FILE] = _render(codec.schema())
    return files


def stale(out_dir: Path = OUT_DIR) -> list[str]:
    """Names of schema files in `out_dir` that are missing or differ from a fresh export."""
    return sorted(
        name
        for name, text in render().items()
        if not (out_dir / name).is_file() or (out_dir / name).read_text(encoding="utf-8") != text
    )


def write(out_dir: Path = OUT_DIR) -> list[str]:
    """Write every schema file into `out_dir`; return the names that changed."""
    changed = stale(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (out_dir / name).write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    """Write the schemas, or with --check exit 1 when the committed ones are out of date."""
    parser = argparse.ArgumentParser(prog="python -m schemas.export", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(args.out)
        for name in outdated:
            print(f"stale: {args.out / name}", file=sys.stderr)
        return 1 if outdated else 0
    for name in write(args.out):
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
