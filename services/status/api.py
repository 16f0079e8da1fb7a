"""Status HTTP routes: jobs, documents and search, always scoped to the caller's tenant."""

from __future__ import annotations

from typing import Annotated, TypeVar

import msgspec
from litestar import Controller, HttpMethod, Response, delete, get, post, route
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter, ParameterKwarg

from services.common.access import SECURITY, error_responses, ok_responses, requires
from services.common.api_bodies import Deletion, Redrive, SearchHit
from services.common.auth import ADMIN_JOBS, READ, WRITE, Principal
from services.common.problems import PROBLEM_JSON, Problem, problem
from services.status.adapters.audit import AuditLog
from services.status.adapters.queries import (
    DocumentView,
    JobPage,
    JobView,
    StatusQueries,
    search_hit,
)
from services.status.core.projection import JobState
from services.status.deleting import DocumentDeleter
from services.status.redrive import Redriver
from services.status.search import SearchService, SearchUnavailableError

STATES = [s.value for s in JobState]
# Job and document ids are UUIDs; this admits any id-like text, refuses what no id can be
# (NUL and other controls, spaces, slashes, 10 KB of text) with a 400 before any query.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
Id = Annotated[
    str, Parameter(pattern=ID_PATTERN, min_length=1, max_length=128, description="An id")
]
V = TypeVar("V")


def state_filter(description: str) -> ParameterKwarg:
    """The `state` query parameter of a route listing jobs or their changes."""
    return ParameterKwarg(query="state", description=description, schema_extra={"enum": STATES})


def bad_state(state: str | None) -> Response[Problem] | None:
    """400 when a `state` filter is given that names no job state."""
    if state is None or state in STATES:
        return None
    return problem(400, "Bad Request", f"state must be one of: {', '.join(STATES)}")


DOCUMENT_METHODS = "DELETE, GET, OPTIONS"


class SearchRequest(msgspec.Struct, frozen=True):
    """POST /v1/search body."""

    query: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    top_k: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5


class SearchedSet(msgspec.Struct, frozen=True):
    """The vector set a search read: one per search, never a mix."""

    set_id: int
    chunk_tokens: Annotated[
        int | None, msgspec.Meta(description="tokens per chunk (null: not recorded)")
    ]
    chunk_overlap: Annotated[
        int | None, msgspec.Meta(description="tokens shared by neighbours (null: not recorded)")
    ]


class SearchResponse(msgspec.Struct, frozen=True):
    """Ranked chunks."""

    results: list[SearchHit]
    embedding_model: str
    vector_set: Annotated[
        SearchedSet | None,
        msgspec.Meta(description="the tenant's active vector set; null before any is indexed"),
    ] = None


class StatusController(Controller):
    """Reads (and the document deletion) for the calling tenant.

    Collaborators come by name from the app's dependencies: `queries` (jobs and documents),
    `search` (query embedding and ranking), `redriver` (retries), `deleter` (deletions),
    `audit` (admin actions) and `principal` (the caller, verified by each route's guard before
    the body is read).
    """

    path = "/v1"
    security = SECURITY

    @get(
        "/jobs/{job_id:str}",
        guards=[requires(READ)],
        responses=ok_responses(JobView, "The job", 404),
    )
    async def get_job(
        self, job_id: Id, principal: Principal, queries: StatusQueries
    ) -> Response[JobView] | Response[Problem]:
        """One job: state, per-stage timestamps, chunk count, error."""
        return _found(await queries.job(principal.tenant, job_id), f"no job {job_id}")

    @get("/jobs", guards=[requires(READ)], responses=ok_responses(JobPage, "A page of jobs"))
    async def list_jobs(
        self,
        principal: Principal,
        queries: StatusQueries,
        job_state: Annotated[str | None, state_filter("Only jobs in this state")] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        cursor: Annotated[
            str | None,
            Parameter(pattern=ID_PATTERN, max_length=128, description="`next_cursor` of a page"),
        ] = None,
    ) -> Response[JobPage] | Response[Problem]:
        """Jobs newest first; pass `next_cursor` back as `cursor` for the next page."""
        if (refused := bad_state(job_state)) is not None:
            return refused
        page = await queries.jobs(principal.tenant, state=job_state, limit=limit, cursor=cursor)
        return Response(page)

    @get(
        "/documents/{document_id:str}",
        guards=[requires(READ)],
        responses=ok_responses(DocumentView, "The document and its jobs", 404),
    )
    async def get_document(
        self, document_id: Id, principal: Principal, queries: StatusQueries
    ) -> Response[DocumentView] | Response[Problem]:
        """A document with its jobs."""
        document = await queries.document(principal.tenant, document_id)
        return _found(document, f"no document {document_id}")

    @delete(
        "/documents/{document_id:str}",
        status_code=200,
        guards=[requires(WRITE, ADMIN_JOBS)],
        responses=ok_responses(Deletion, "Deleted (again, if it was): what was removed", 404),
    )
    async def delete_document(
        self, document_id: Id, principal: Principal, deleter: DocumentDeleter, audit: AuditLog
    ) -> Response[Deletion] | Response[Problem]:
        """Delete a document: its blobs, chunks and jobs; no replay brings it back, a new upload
        does (the caller's, or with `admin:jobs` any tenant's: recorded in the audit log)."""
        tenant = principal.tenant
        if principal.holds(ADMIN_JOBS):
            owner = await deleter.owner(document_id)
            if owner is not None and owner != principal.tenant:
                await audit.record(principal, ADMIN_JOBS, "documents.delete", owner, document_id)
            tenant = owner or tenant
        return Response(await deleter.delete(tenant, document_id))  # 404 / 503: refused

    @route("/documents/{document_id:str}", http_method=HttpMethod.OPTIONS, include_in_schema=False)
    async def allow_document_methods(self) -> Response[None]:
        """OPTIONS on a document: Litestar 2's own handler lists only the methods of the first
        handler registered for a path (litestar #4169, fixed in 3). Its name sorts before the
        path's other handlers (a controller registers them in `dir()` order), so it is the
        path's only OPTIONS handler."""
        return Response(None, status_code=204, headers={"Allow": DOCUMENT_METHODS})

    @post(
        "/jobs/{job_id:str}/retry",
        status_code=202,
        guards=[requires(WRITE, ADMIN_JOBS)],
        responses={
            202: ResponseSpec(Redrive, description="Re-driven", generate_examples=False),
            **error_responses(404, 409),
        },
    )
    async def retry_job(
        self, job_id: Id, principal: Principal, redriver: Redriver, audit: AuditLog
    ) -> Response[Redrive] | Response[Problem]:
        """Re-drive a failed job from the stage that failed (the caller's, or with `admin:jobs`
        any tenant's: recorded in the audit log)."""
        tenant: str | None = principal.tenant
        if principal.holds(ADMIN_JOBS):
            await audit.job_action(principal, "jobs.retry", job_id)
            tenant = None
        result = await redriver.retry(tenant, job_id)  # RedriveRefusedError: 404 or 409
        return Response(result, status_code=202)

    @post(
        "/search",
        status_code=200,
        guards=[requires(READ)],
        responses={
            **error_responses(),
            200: ResponseSpec(
                SearchResponse, description="Ranked chunks, best first", generate_examples=False
            ),
            503: ResponseSpec(
                Problem,
                description="The search model is loading or its provider is unavailable",
                media_type=PROBLEM_JSON,
                generate_examples=False,
            ),
        },
    )
    async def search_chunks(
        self, data: SearchRequest, principal: Principal, search: SearchService
    ) -> Response[SearchResponse] | Response[Problem]:
        """Semantic search over the tenant's chunks, in the vector set the tenant searches."""
        try:
            found = await search.search(principal.tenant, data.query, data.top_k)
        except SearchUnavailableError as error:
            return problem(503, "Service Unavailable", str(error))
        searched = found.vector_set
        return Response(
            SearchResponse(
                results=[search_hit(hit) for hit in found.hits],
                embedding_model=found.embedding_model,
                vector_set=None
                if searched is None
                else SearchedSet(
                    searched.id, searched.key.chunk_tokens, searched.key.chunk_overlap
                ),
            )
        )


def _found(view: V | None, missing: str) -> Response[V] | Response[Problem]:
    """`view` as the answer, or a 404 saying what is `missing`."""
    return problem(404, "Not Found", missing) if view is None else Response(view)
