"""The one settings loader: environment variables into a msgspec Struct, validated at start."""

from __future__ import annotations

import inspect
import math
import os
import re
import socket
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import msgspec

PREFIX = "SLUICE_"
DEV_JWT_SECRET = "sluice-dev-secret-do-not-use-in-production"  # noqa: S105 - refused in production
MIN_JWT_SECRET_CHARS = 32  # HS256 wants a key at least as long as its 256-bit hash
MIN_SECRET_BITS = 128  # estimated entropy a production secret must have (secret_strength_bits)

T = TypeVar("T", bound=msgspec.Struct)
Options = TypeVar("Options")


def doc(description: str, **bounds: Any) -> msgspec.Meta:
    """A setting's description (docs/configuration.md) and bounds (`ge=0`, `gt=0`, ...)."""
    return msgspec.Meta(description=description, **bounds)


CpuNice = Annotated[
    int,
    doc(
        "Added to the process's nice value at start: batch CPU work yields to"
        " ingest and status on a shared machine (0 = leave it)",
        ge=0,
        le=19,
    ),
]
"""The `cpu_nice` setting of the services doing batch CPU work (parser, embedder)."""


RENAMED = {
    "SLUICE_OPENAI_BASE_URL": "SLUICE_EMBEDDING_BASE_URL",
    "SLUICE_OPENAI_API_KEY": "SLUICE_EMBEDDING_API_KEY",
    "SLUICE_OPENAI_MODEL": "SLUICE_EMBEDDING_MODEL",
    "SLUICE_OPENAI_DIMENSIONS": "SLUICE_EMBEDDING_DIMENSIONS",
}
"""Variables that were renamed: setting an old name is refused, never silently ignored."""


class SettingsError(Exception):
    """A configuration value is missing or invalid; the message names the variable."""


DAY_MS = 24 * 3600 * 1000


class PipelineSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Where the pipeline lives: Kafka, Postgres, the consumer groups and the topics' settings.

    Every service reads them, and so do the operator's commands (`sluice topics|replay|
    rebuild-status`), which need nothing else.
    """

    env: Annotated[
        Literal["development", "production"],
        doc("Deployment mode; only `development` creates missing topics at start"),
    ] = "development"
    kafka_bootstrap: Annotated[str, doc("Kafka bootstrap servers")] = "127.0.0.1:9092"
    database_url: Annotated[str, doc("PostgreSQL URL")] = (
        "postgresql://postgres@127.0.0.1:5434/sluice"
    )
    parser_group: Annotated[str, doc("The parser's consumer group")] = "sluice-parser"
    embedder_group: Annotated[str, doc("The embedder's consumer group")] = "sluice-embedder"
    status_group: Annotated[str, doc("The status projector's consumer group")] = "sluice-status"
    topic_partitions: Annotated[
        int,
        doc(
            "Partitions per topic at creation: the most replicas of one consumer"
            " group that have work",
            ge=1,
        ),
    ] = 12
    topic_replication_factor: Annotated[
        int,
        doc(
            "Replicas of each topic at creation (development caps it at the"
            " cluster's broker count)",
            ge=1,
        ),
    ] = 3
    topic_min_insync_replicas: Annotated[
        int,
        doc(
            "`min.insync.replicas` of each topic: with acks=all, a write is on"
            " this many brokers (capped at the replication factor)",
            ge=1,
        ),
    ] = 2
    topic_retention_ms: Annotated[
        int,
        doc(
            "Retention of the pipeline topics (-1: forever): how far back"
            " `sluice replay` and `sluice rebuild-status` reach",
            ge=-1,
        ),
    ] = 14 * DAY_MS
    topic_retry_retention_ms: Annotated[int, doc("Retention of the `.retry` topics", ge=-1)] = (
        7 * DAY_MS
    )
    topic_dlq_retention_ms: Annotated[
        int,
        doc("Retention of the `.dlq` topics: how long dead letters wait", ge=-1),
    ] = 30 * DAY_MS

    @property
    def groups(self) -> dict[str, str]:
        """The consumer group of each consuming service: parser, embedder, status."""
        return {
            "parser": self.parser_group,
            "embedder": self.embedder_group,
            "status": self.status_group,
        }


class ProcessSettings(PipelineSettings, kw_only=True, frozen=True):
    """What every process of the pipeline reads besides the pipeline's: its name, log level and
    the address its HTTP server binds."""

    log_level: Annotated[str, doc("Log level")] = "INFO"
    http_host: Annotated[str, doc("Address the HTTP server binds")] = "127.0.0.1"
    instance_id: Annotated[str, doc("This replica's name")] = ""

    @property
    def instance(self) -> str:
        """A stable name for this process in logs and events."""
        return self.instance_id or f"{socket.gethostname()}-{os.getpid()}"


class CommonSettings(ProcessSettings, kw_only=True, frozen=True):
    """Settings every service reads."""

    jwt_secret: Annotated[
        str,
        doc(
            "HS256 secret for JWTs; empty: the development secret in development, HS256 off in"
            " production"
        ),
    ] = ""
    jwt_jwks_url: Annotated[
        str, doc("JWKS URL of the identity provider: RS256/ES256 tokens verified with its keys")
    ] = ""
    jwt_issuer: Annotated[str, doc("Required `iss` of every token (empty: not checked)")] = ""
    jwt_audience: Annotated[
        str, doc("Required `aud` of every token (empty: not checked, any `aud` accepted)")
    ] = ""
    jwt_tenant_claim: Annotated[str, doc("The claim that names the caller's tenant")] = "tenant"
    jwt_max_lifetime_s: Annotated[
        int, doc("Longest accepted token lifetime (`exp` - `iat`)", ge=60)
    ] = 24 * 3600
    jwt_leeway_s: Annotated[int, doc("Clock skew allowed on `exp`, `iat`, `nbf`", ge=0, le=300)] = (
        30
    )
    jwks_cache_s: Annotated[
        int, doc("How long fetched JWKS keys are used before a refresh", ge=1)
    ] = 300
    jwks_min_refresh_s: Annotated[
        int,
        doc("Least time between two fetches of the JWKS (an unknown `kid`)", ge=0),
    ] = 30
    cors_allow_origins: Annotated[
        str, doc("Comma-separated origins browsers may call from (empty: no CORS headers)")
    ] = ""
    cors_allow_methods: Annotated[str, doc("Comma-separated methods allowed by CORS")] = "GET,POST"
    cors_allow_headers: Annotated[str, doc("Comma-separated request headers allowed by CORS")] = (
        "Authorization,Content-Type,Idempotency-Key"
    )
    docs_ui: Annotated[
        bool | None,
        doc("Serve the OpenAPI UI under /schema (unset: in development only)"),
    ] = None
    debug: Annotated[bool, doc("Tracebacks in HTTP error bodies (refused in production)")] = False
    metrics_port: Annotated[
        int,
        doc(
            "Serve ingest's and status's /metrics on this port instead (0: the service's own port)",
            ge=0,
            le=65535,
        ),
    ] = 0
    liveness_port: Annotated[
        int,
        doc(
            "Also answer /health/live on this port, from a watchdog thread that fails"
            " it while the event loop is blocked (0: off; Kubernetes probes it)",
            ge=0,
            le=65535,
        ),
    ] = 0
    consumer_stall_s: Annotated[
        float,
        doc(
            "A consumer's readiness fails (`stalled`) when it has lag and has"
            " committed nothing for this long",
            gt=0,
        ),
    ] = 300.0
    loop_stall_s: Annotated[
        float,
        doc(
            "/health/live fails once the event loop's heartbeat (stamped every"
            " second) is older than this",
            gt=0,
        ),
    ] = 10.0
    health_interval_s: Annotated[
        float,
        doc(
            "How often a service runs its readiness checks itself (the"
            " sluice_ready metrics and the not-ready alert count these)",
            gt=0,
        ),
    ] = 30.0
    db_pool_size: Annotated[int, doc("Max Postgres connections per process")] = 8

    def __post_init__(self) -> None:
        if self.jwt_secret and len(self.jwt_secret) < MIN_JWT_SECRET_CHARS:
            raise ValueError(
                f"SLUICE_JWT_SECRET must be at least {MIN_JWT_SECRET_CHARS} characters"
                " (HS256 key size)"
            )
        if self.jwt_jwks_url and not self.jwt_jwks_url.startswith(("https://", "http://")):
            raise ValueError("SLUICE_JWT_JWKS_URL must be an http(s) URL")
        for value in _words(self.cors_allow_origins):
            if value != "*" and origin_of(value) != value.rstrip("/"):
                raise ValueError(
                    f"SLUICE_CORS_ALLOW_ORIGINS: {value!r} is not an origin (scheme://host[:port])"
                )
        if self.env == "production":
            refuse_insecure_production(self)

    @property
    def hs256_secret(self) -> str | None:
        """The HS256 key tokens may be signed with, or None when only the JWKS keys count."""
        if self.jwt_secret:
            return self.jwt_secret
        if self.env == "development" and not self.jwt_jwks_url:
            return DEV_JWT_SECRET
        return None

    @property
    def serves_docs_ui(self) -> bool:
        """Whether the OpenAPI UI is served (the JSON document always is)."""
        return self.env == "development" if self.docs_ui is None else self.docs_ui

    @property
    def cors(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """(origins, methods, headers) allowed by CORS; no origins means no CORS."""
        return (
            _words(self.cors_allow_origins),
            _words(self.cors_allow_methods),
            _words(self.cors_allow_headers),
        )


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL: what a browser sends as `Origin`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(",") if word.strip())


def secret_strength_bits(secret: str) -> float:
    """An estimate of a secret's entropy: its length times the Shannon entropy of its characters.

    Generous to random strings (`openssl rand -hex 32` scores ~250) and harsh to repetition
    ('a' * 32 scores 0). A pattern repeated to length scores low on distinct trigrams, which
    `refuse_insecure_production` checks as well.
    """
    if not secret:
        return 0.0
    n = len(secret)
    counts = Counter(secret).values()
    return -n * sum(c / n * math.log2(c / n) for c in counts)


def _repeats_a_pattern(secret: str) -> bool:
    trigrams = [secret[i : i + 3] for i in range(len(secret) - 2)]
    return bool(trigrams) and len(set(trigrams)) < 0.75 * len(trigrams)


def refuse_insecure_production(settings: CommonSettings) -> None:
    """Raise ValueError for each setting `SLUICE_ENV=production` must not run with."""
    secret = settings.jwt_secret
    if secret == DEV_JWT_SECRET:
        raise ValueError("SLUICE_JWT_SECRET is the public development secret: set your own")
    if not secret and not settings.jwt_jwks_url:
        raise ValueError(
            "production needs SLUICE_JWT_JWKS_URL (RS256/ES256 from your identity provider)"
            " or SLUICE_JWT_SECRET (HS256)"
        )
    if secret and (secret_strength_bits(secret) < MIN_SECRET_BITS or _repeats_a_pattern(secret)):
        raise ValueError(
            "SLUICE_JWT_SECRET is too predictable (repeated characters or a pattern): use a"
            " random one, e.g. `openssl rand -hex 32`"
        )
    if settings.jwt_jwks_url and not settings.jwt_jwks_url.startswith("https://"):
        raise ValueError("SLUICE_JWT_JWKS_URL must be https:// in production")
    if "*" in settings.cors[0]:
        raise ValueError("SLUICE_CORS_ALLOW_ORIGINS may not be '*' in production: list the origins")
    if settings.debug:
        raise ValueError("SLUICE_DEBUG must be off in production (it shows tracebacks)")


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return PREFIX + field.upper()


def load_settings(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Read `cls` from SLUICE_* variables; raise SettingsError naming the bad variable."""
    environ = os.environ if environ is None else environ
    for old, new in RENAMED.items():
        if old in environ:
            raise SettingsError(f"{old} was renamed {new}: set that instead")
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


def from_settings(
    cls: type[Options], settings: msgspec.Struct, prefix: str, **given: Any
) -> Options:
    """`cls(**given)`, each of its other parameters read from the setting `prefix` + its name.

    For option classes whose fields are settings under one prefix, e.g.
    `from_settings(TokenPolicy, settings, "jwt_")`; a parameter with a default and no such
    setting keeps its default, one without either raises AttributeError (pass it in `given`).
    """
    values = {
        name: getattr(settings, prefix + name)
        for name, parameter in inspect.signature(cls).parameters.items()
        if name not in given
        and (parameter.default is inspect.Parameter.empty or hasattr(settings, prefix + name))
    }
    return cls(**values, **given)
