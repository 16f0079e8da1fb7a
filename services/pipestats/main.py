"""pipestats entry: settings, logs, migrations, then the faust worker until stopped."""

from __future__ import annotations

import asyncio
import sys

import msgspec

from services.common.bootstrap import with_retries
from services.common.db import migrate
from services.common.settings import SettingsError, load_settings
from services.pipestats.app import Pipestats
from services.pipestats.config import PipestatsSettings


def run() -> None:
    """`python -m services.pipestats`."""
    try:
        config = load_settings(PipestatsSettings)
    except (SettingsError, msgspec.ValidationError, ValueError) as error:
        print(f"pipestats: {error}", file=sys.stderr)
        sys.exit(2)
    asyncio.run(with_retries("postgres", lambda: migrate(config.database_url)))
    Pipestats(config, config.instance).worker()
