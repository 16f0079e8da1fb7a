"""The one settings loader: environment variables into a msgspec Struct, validated at start."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

import msgspec

PREFIX = "SLUICE_"
DEV_JWT_SECRET = "sluice-dev-secret-do-not-use-in-production"  # noqa: S105 - refused in production
MIN_JWT_SECRET_CHARS = 32  # HS256 wants a key at least as long as its 256-bit hash

T = TypeVar("T", bound=msgspec.Struct)


CpuNice = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=19,
        description="Added to the process's nice value at start: batch CPU work yields to"
        " ingest and status on a shared machine (0 = leave it)",
    ),
]
"""The `cpu_nice` setting of the services doing batch CPU work (parser, embedder)."""


class SettingsError(Exception):
    """A configuration value is missing or invalid; the message names the variable."""


def _doc(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class CommonSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Settings every service reads."""

    env: Annotated[Literal["development", "production"], _doc("Deployment mode")] = "development"
    kafka_bootstrap: Annotated[str, _doc("Kafka bootstrap servers")] = "127.0.0.1:9092"
    database_url: Annotated[str, _doc("PostgreSQL URL")] = (
        "postgresql://postgres@127.0.0.1:5434/sluice"
    )
    jwt_secret: Annotated[str, _doc("HS256 secret for JWTs")] = DEV_JWT_SECRET
    log_level: Annotated[str, _doc("Log level")] = "INFO"
    http_host: Annotated[str, _doc("Address the HTTP server binds")] = "127.0.0.1"
    instance_id: Annotated[str, _doc("This replica's name")] = ""
    topic_partitions: Annotated[int, _doc("Partitions per topic at creation")] = 12
    db_pool_size: Annotated[int, _doc("Max Postgres connections per process")] = 8

    def __post_init__(self) -> None:
        if self.env == "production" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("SLUICE_JWT_SECRET must be set in production")
        if len(self.jwt_secret) < MIN_JWT_SECRET_CHARS:
            raise ValueError(
                f"SLUICE_JWT_SECRET must be at least {MIN_JWT_SECRET_CHARS} characters"
                " (HS256 key size)"
            )

    @property
    def instance(self) -> str:
        """A stable name for this process in logs and events."""
        return self.instance_id or f"{socket.gethostname()}-{os.getpid()}"


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return PREFIX + field.upper()


def load_settings(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Read `cls` from SLUICE_* variables; raise SettingsError naming the bad variable."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        value = environ.get(env_name(field.name))
        if value is not None:
            raw[field.name] = value
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as error:
        text = str(error)
        match = re.search(r"at `\$\.(\w+)`", text)
        where = f" ({env_name(match.group(1))})" if match else ""
        raise SettingsError(f"invalid configuration{where}: {text}") from error


def describe(cls: type[msgspec.Struct]) -> list[tuple[str, str, str]]:
    """(variable, default, description) for every field, for the configuration reference."""
    rows = []
    schema = msgspec.json.schema(cls)
    props = schema["$defs"][cls.__name__]["properties"]
    for field in msgspec.structs.fields(cls):
        default = field.default if field.default is not msgspec.NODEFAULT else "(required)"
        rows.append((env_name(field.name), repr(default), props[field.name].get("description", "")))
    return rows
