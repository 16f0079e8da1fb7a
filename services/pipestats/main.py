"""pipestats entry: settings, migrations, topics, the changelogs' replication, then the worker."""

from __future__ import annotations

import asyncio
import sys

import msgspec

from services.common.bootstrap import prepare_topics, with_retries
from services.common.db import migrate
from services.common.kafka.admin import (
    TopicsMissingError,
    admin_client,
    broker_count,
    create_topics,
)
from services.common.settings import SettingsError, load_settings
from services.pipestats.app import Pipestats, changelog_topics
from services.pipestats.config import PipestatsSettings


async def prepare(config: PipestatsSettings) -> PipestatsSettings:
    """Apply the migrations and see to the topics as every service does (development: create
    the missing ones; else TopicsMissingError); in development, cap the replication of faust's
    own topics (table changelogs, its assignor's) at the broker count too, and create the
    changelogs before the worker starts (`changelog_topics`)."""
    await with_retries("postgres", lambda: migrate(config.database_url))
    await prepare_topics(config)
    async with admin_client(config.kafka_bootstrap) as admin:
        wanted = config.topic_replication_factor
        if config.env == "development":
            brokers = await with_retries("kafka", lambda: broker_count(admin))
            wanted = min(wanted, brokers)
        await create_topics(admin, changelog_topics(config, wanted))
    return msgspec.structs.replace(config, topic_replication_factor=wanted)


def run() -> None:
    """`python -m services.pipestats`."""
    try:
        config = load_settings(PipestatsSettings)
    except (SettingsError, msgspec.ValidationError, ValueError) as error:
        print(f"pipestats: {error}", file=sys.stderr)
        sys.exit(2)
    try:
        config = asyncio.run(prepare(config))
    except TopicsMissingError as error:  # a deployment step is missing: say which, exit 2
        print(f"pipestats: {error}", file=sys.stderr)
        sys.exit(2)
    Pipestats(config, config.instance).worker()
