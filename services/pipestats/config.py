"""pipestats settings: the pipeline's (Kafka, Postgres, partitions) plus its own port and period."""

from __future__ import annotations

from typing import Annotated

from services.common.settings import ProcessSettings, doc


class PipestatsSettings(ProcessSettings, kw_only=True, frozen=True):
    """SLUICE_* variables read by pipestats."""

    pipestats_port: Annotated[
        int, doc("pipestats HTTP port (/health/ready, /health/live, /metrics)")
    ] = 8005
    pipestats_group: Annotated[
        str,
        doc(
            "pipestats's faust app id: its consumer group and the prefix of its"
            " table changelog topics"
        ),
    ] = "sluice-pipestats"
    pipestats_snapshot_s: Annotated[
        float, doc("How often pipestats writes its windows to Postgres (seconds)", gt=0)
    ] = 5.0
    pipestats_timing_keep_s: Annotated[
        float,
        doc(
            "How long a stage's start (or end) waits for its other half before pipestats"
            " drops it (a job deleted mid-stage, an event dead-lettered)",
            gt=0,
        ),
    ] = 3600.0
