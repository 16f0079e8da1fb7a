"""Writes pipestats's windows to Postgres (`pipeline_windows`, `pipeline_snapshot`) in one
transaction, replacing the previous snapshot."""

from __future__ import annotations

from psycopg import AsyncConnection

from services.pipestats.core.windows import Figures

INSERT = (
    "INSERT INTO pipeline_windows (stage, tenant_id, seconds, done, failed, p95_stage_s)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
STAMP = (
    "INSERT INTO pipeline_snapshot (one, taken_at, instance) VALUES (true, now(), %s)"
    " ON CONFLICT (one) DO UPDATE SET taken_at = now(), instance = EXCLUDED.instance"
)


class Snapshots:
    """One connection, opened on the first write and again after a failed one."""

    def __init__(self, url: str, instance: str) -> None:
        self.url, self.instance = url, instance
        self._conn: AsyncConnection | None = None

    async def write(self, rows: list[Figures]) -> None:
        """Replace the snapshot with `rows`, stamped now."""
        if self._conn is None or self._conn.closed:
            self._conn = await AsyncConnection.connect(self.url, application_name="pipestats")
        try:
            async with self._conn.transaction():
                await self._conn.execute("DELETE FROM pipeline_windows")
                async with self._conn.cursor() as cur:
                    await cur.executemany(
                        INSERT,
                        [
                            (r.stage, r.tenant_id, r.seconds, r.done, r.failed, r.p95_stage_s)
                            for r in rows
                        ],
                    )
                await self._conn.execute(STAMP, (self.instance,))
        except Exception:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection, if open."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
