"""pipestats settings: the pipeline's (Kafka, Postgres, partitions) plus its own port and period."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import msgspec

from services.common.settings import PipelineSettings


class PipestatsSettings(PipelineSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by pipestats."""

    pipestats_port: Annotated[
        int, msgspec.Meta(description="pipestats HTTP port (/health/ready, /health/live)")
    ] = 8005
    http_host: Annotated[str, msgspec.Meta(description="Address the HTTP server binds")] = (
        "127.0.0.1"
    )
    pipestats_group: Annotated[
        str,
        msgspec.Meta(
            description="pipestats's faust app id: its consumer group and the prefix of its"
            " table changelog topics"
        ),
    ] = "sluice-pipestats"
    pipestats_snapshot_s: Annotated[
        float,
        msgspec.Meta(
            gt=0, description="How often pipestats writes its windows to Postgres (seconds)"
        ),
    ] = 5.0
    instance_id: Annotated[str, msgspec.Meta(description="This replica's name")] = ""
    log_level: Annotated[str, msgspec.Meta(description="Log level")] = "INFO"

    @property
    def instance(self) -> str:
        """This replica's name: SLUICE_INSTANCE_ID, else host and pid."""
        return self.instance_id or f"{socket.gethostname()}-{os.getpid()}"
