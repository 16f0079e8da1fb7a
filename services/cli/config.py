"""Where `sluice` finds its token and the service URLs: flags, then environment, then file.

The file is TOML, `$XDG_CONFIG_HOME/sluice/config.toml` (`~/.config/sluice/config.toml` when
XDG_CONFIG_HOME is unset; SLUICE_CONFIG names another):

    ingest_url = "https://ingest.example.com"
    status_url = "https://status.example.com"
    token = "eyJ..."            # used when no tenant is chosen or the tenant has none of its own
    tenant = "acme"             # the default for --tenant

    [tenants.globex]
    token = "eyJ..."
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from services.cli.exits import CliError, Exit
from services.common.auth import ADMIN_REPLAY, READ, WRITE, issue_token
from services.common.settings import DEV_JWT_SECRET

DEFAULT_INGEST_URL = "http://127.0.0.1:8000"
DEFAULT_STATUS_URL = "http://127.0.0.1:8001"
DEFAULT_TENANT = "acme"
_KEYS = {"ingest_url", "status_url", "token", "tenant", "tenants"}


@dataclass(frozen=True)
class CliConfig:
    """The resolved settings of one `sluice` run."""

    ingest_url: str
    status_url: str
    token: str
    tenant: str | None  # the tenant asked for (flag, env or file), None: whatever the token says
    notes: tuple[str, ...] = ()  # what a person should know (e.g. a development token is used)


def config_path(environ: Mapping[str, str]) -> Path:
    """The config file this run reads (which may not exist)."""
    if environ.get("SLUICE_CONFIG"):
        return Path(environ["SLUICE_CONFIG"]).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "sluice" / "config.toml"


def read_file(path: Path) -> dict[str, Any]:
    """The config file's table ({} when it does not exist); CliError naming what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise CliError(f"config file {path}: {error}", Exit.USAGE) from error
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise CliError(
            f"config file {path}: unknown key(s) {', '.join(unknown)};"
            f" expected {', '.join(sorted(_KEYS))}",
            Exit.USAGE,
        )
    tenants = data.get("tenants", {})
    if not isinstance(tenants, dict) or not all(isinstance(t, dict) for t in tenants.values()):
        raise CliError(f"config file {path}: [tenants.NAME] tables expected", Exit.USAGE)
    for key in ("ingest_url", "status_url", "token", "tenant"):
        if key in data and not isinstance(data[key], str):
            raise CliError(f"config file {path}: {key} must be a string", Exit.USAGE)
    return data


def _url(value: str, where: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise CliError(f"{where}: {value!r} is not an http(s) URL", Exit.USAGE)
    return value.rstrip("/")


def token_tenant(token: str) -> str | None:
    """The `tenant` claim of a token, read without checking it (the services check it)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    tenant = claims.get("tenant")
    return tenant if isinstance(tenant, str) else None


def load_config(
    *,
    token: str | None = None,
    tenant: str | None = None,
    ingest_url: str | None = None,
    status_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    admin: bool = False,
) -> CliConfig:
    """Resolve the settings: each flag given here, else its SLUICE_* variable, else the file.

    Without any token, a development token is made for the tenant (as `sluice token` does):
    it works against a local stack and is refused by services with a real secret. `admin`:
    the command acts on another tenant (`--tenant` is not the token's); a development token
    then also holds `admin:replay`.
    """
    env = os.environ if environ is None else environ
    path = config_path(env)
    file = read_file(path)
    ingest = (
        (ingest_url, "--ingest-url"),
        (env.get("SLUICE_INGEST_URL"), "SLUICE_INGEST_URL"),
        (file.get("ingest_url"), f"{path}: ingest_url"),
    )
    status = (
        (status_url, "--status-url"),
        (env.get("SLUICE_STATUS_URL"), "SLUICE_STATUS_URL"),
        (file.get("status_url"), f"{path}: status_url"),
    )
    chosen_tenant = tenant or env.get("SLUICE_TENANT") or file.get("tenant") or None
    per_tenant = file.get("tenants", {}).get(chosen_tenant, {}) if chosen_tenant else {}
    notes: list[str] = []
    chosen_token = (
        token or env.get("SLUICE_TOKEN") or per_tenant.get("token") or file.get("token") or None
    )
    if chosen_token is None and env.get("SLUICE_ENV") == "production":
        raise CliError(f"no token configured (SLUICE_TOKEN or {path})", Exit.USAGE)
    if chosen_token is None:
        for_tenant = chosen_tenant or DEFAULT_TENANT
        secret = env.get("SLUICE_JWT_SECRET", DEV_JWT_SECRET)
        scopes = (WRITE, READ, ADMIN_REPLAY) if admin else (WRITE, READ)
        chosen_token = issue_token(for_tenant, secret, scopes=scopes)
        notes.append(
            f"no token configured (SLUICE_TOKEN or {path}): using a development"
            f" {'admin ' if admin else ''}token for tenant {for_tenant!r}"
        )
    elif chosen_tenant is not None:
        claimed = token_tenant(chosen_token)
        if claimed is not None and claimed != chosen_tenant:
            raise CliError(
                f"the token is for tenant {claimed!r}, not {chosen_tenant!r}: set a token for"
                f" {chosen_tenant!r} (SLUICE_TOKEN, or [tenants.{chosen_tenant}] in {path})",
                Exit.USAGE,
            )
    return CliConfig(
        ingest_url=_first_url(ingest, DEFAULT_INGEST_URL),
        status_url=_first_url(status, DEFAULT_STATUS_URL),
        token=chosen_token,
        tenant=chosen_tenant,
        notes=tuple(notes),
    )


def _first_url(candidates: tuple[tuple[str | None, str], ...], default: str) -> str:
    for value, where in candidates:
        if value:
            return _url(value, where)
    return default
