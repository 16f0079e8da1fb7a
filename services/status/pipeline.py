"""The live pipeline view, `GET /v1/pipeline` (scope `admin:pipeline`): per stage its lag, live
instances and their partitions, dead-letter depth, oldest unfinished job, 1- and 5-minute
figures and a verdict (ok / waiting / stuck / down).

Kafka is sampled every `SLUICE_PIPELINE_SAMPLE_S` by `PipelineWatch.run` (a task of the
status service), so a verdict can say whether a group committed anything lately.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from aiokafka.errors import KafkaError
from litestar import Controller, Response, get

from schemas import topics
from services.common.access import SECURITY, ok_responses, requires
from services.common.auth import ADMIN_PIPELINE
from services.common.periodic import wait_or_stop
from services.common.problems import Problem, problem
from services.status.adapters.figures import Figures, OldestJob, Window
from services.status.adapters.groups import GroupProbe, GroupSample, Instance
from services.status.core.verdict import Progress, Verdict, verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """A stage as the view watches it: its group, what it reads, its dead-letter topics."""

    name: str
    group: str
    inputs: tuple[str, ...]  # the lag the verdict weighs
    retries: tuple[str, ...] = ()  # delayed on purpose: reported, not weighed
    dlqs: tuple[str, ...] = ()


def pipeline_stages(parser_group: str, embedder_group: str, status_group: str) -> list[Stage]:
    """parse, embed and project, with their consumer groups."""
    uploaded, parsed = topics.DOCUMENTS_UPLOADED, topics.DOCUMENTS_PARSED
    own = (
        topics.DOCUMENTS_INDEXED,
        topics.DOCUMENTS_FAILED,
        topics.JOBS_PROGRESS,
        topics.DOCUMENTS_DELETED,
    )
    return [
        Stage(
            "parse", parser_group, (uploaded,), (topics.retry(uploaded),), (topics.dlq(uploaded),)
        ),
        Stage("embed", embedder_group, (parsed,), (topics.retry(parsed),), (topics.dlq(parsed),)),
        Stage("project", status_group, topics.STATUS_TOPICS, (), tuple(map(topics.dlq, own))),
    ]


class StageView(msgspec.Struct, frozen=True, kw_only=True):
    """One stage now."""

    stage: str
    group: str
    verdict: str
    lag: int  # records of its input topics not committed yet
    retry_lag: int  # records waiting in its retry topic (delayed on purpose)
    stalled_s: float  # how long it has had lag without committing anything
    lag_by_partition: dict[str, int]
    group_state: str
    instances: list[Instance]
    dlq_depth: int
    oldest_unfinished: OldestJob | None
    windows: list[Window]  # 60 s and 300 s, from pipestats; empty while its snapshot is unknown
    tenant_windows: dict[str, list[Window]] = {}  # the same per tenant that had work in them


class PipelineView(msgspec.Struct, frozen=True):
    """GET /v1/pipeline."""

    sampled_at: datetime
    stall_s: float
    stages: list[StageView]
    windows_at: datetime | None = None  # when pipestats took the windows; None: unknown


class PipelineUnavailableError(Exception):
    """Kafka did not answer the sample."""


@dataclass
class _Seen:
    sample: GroupSample
    progress: Progress = field(default_factory=Progress)


class PipelineWatch:
    """Samples the stages' groups; builds the view from the last sample and Postgres."""

    def __init__(
        self,
        probe: GroupProbe,
        figures: Figures,
        stages: list[Stage],
        *,
        sample_s: float,
        stall_s: float,
    ) -> None:
        self.probe, self.figures, self.stages = probe, figures, stages
        self.sample_s, self.stall_s = sample_s, stall_s
        self.progress = {stage.name: Progress() for stage in stages}
        self.samples: dict[str, GroupSample] = {}
        self.sampled_at: float | None = None
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()

    def close(self) -> None:
        """Stop sampling (the service is stopping)."""
        self._stop.set()

    async def run(self) -> None:
        """Sample every `sample_s` until closed."""
        try:
            while not self._stop.is_set():
                try:
                    await self.sample()
                except PipelineUnavailableError as error:
                    log.warning("pipeline sample failed: %s", error)
                except Exception:  # a fault of the view must never stop the projector beside it
                    log.exception("pipeline sample failed")
                    await self.probe.close()
                await wait_or_stop(self._stop, self.sample_s)
        finally:
            await self.probe.close()

    async def sample(self) -> None:
        """Read every stage's group once and note its progress."""
        async with self._lock:
            try:
                found = {
                    s.name: await self.probe.sample(s.group, (*s.inputs, *s.retries), s.dlqs)
                    for s in self.stages
                }
            except (KafkaError, OSError, TimeoutError) as error:
                await self.probe.close()
                raise PipelineUnavailableError(str(error) or type(error).__name__) from error
            now = asyncio.get_running_loop().time()
            for stage in self.stages:
                sample = found[stage.name]
                self.progress[stage.name].observe(sample.committed, self._lag(stage, sample), now)
            self.samples, self.sampled_at = found, now

    @staticmethod
    def _lag(stage: Stage, sample: GroupSample, of: tuple[str, ...] | None = None) -> int:
        wanted = of if of is not None else stage.inputs
        return sum(n for label, n in sample.lag.items() if label.rsplit("/", 1)[0] in wanted)

    async def view(self) -> PipelineView:
        """The view now (sampling first when the last sample is missing or old)."""
        loop = asyncio.get_running_loop()
        if self.sampled_at is None or loop.time() - self.sampled_at > 2 * self.sample_s:
            await self.sample()
        now = loop.time()
        windows = await self.figures.windows()
        stages = []
        for stage in self.stages:
            sample, progress = self.samples[stage.name], self.progress[stage.name]
            lag = self._lag(stage, sample)
            stages.append(
                StageView(
                    stage=stage.name,
                    group=stage.group,
                    verdict=str(verdict(len(sample.instances), lag, progress, now, self.stall_s)),
                    lag=lag,
                    retry_lag=self._lag(stage, sample, stage.retries),
                    stalled_s=round(progress.stalled_for(now), 1),
                    lag_by_partition={k: v for k, v in sorted(sample.lag.items()) if v},
                    group_state=sample.state,
                    instances=sample.instances,
                    dlq_depth=sample.dlq_depth,
                    oldest_unfinished=await self.figures.oldest_unfinished(stage.name),
                    windows=windows.of(stage.name),
                    tenant_windows=windows.tenants.get(stage.name, {}),
                )
            )
        return PipelineView(datetime.now(UTC), self.stall_s, stages, windows.taken_at)


class PipelineController(Controller):
    """The pipeline view for operators (every tenant's work, in aggregate)."""

    path = "/v1/pipeline"
    security = SECURITY

    @get(
        "/",
        guards=[requires(ADMIN_PIPELINE)],
        responses=ok_responses(PipelineView, "Each stage: lag, instances, figures, verdict"),
    )
    async def pipeline_view(
        self, pipeline: PipelineWatch
    ) -> Response[PipelineView] | Response[Problem]:
        """Per stage: lag, live instances and partitions, dead letters, oldest unfinished job,
        1- and 5-minute figures, and the verdict (ok, waiting, stuck, down)."""
        try:
            return Response(await pipeline.view())
        except PipelineUnavailableError as error:
            return problem(503, "Service Unavailable", f"Kafka did not answer: {error}")


__all__ = ["PipelineController", "PipelineWatch", "Verdict", "pipeline_stages"]
