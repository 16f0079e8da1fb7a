"""Admin routes on vector sets (scope `admin:replay`, every call in the audit log): reprocess a
tenant's documents into a new set, list the sets, activate one for a tenant, prune the rest."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from services.common.access import SECURITY, error_responses, requires
from services.common.auth import ADMIN_REPLAY
from services.common.problems import PROBLEM_JSON, Problem
from services.common.vectors.admin import Activation, Pruning, Reprocessing, TenantSets
from services.status.admin_call import ADMIN_CALL, AdminCall
from services.status.vector_sets import VectorSetAdmin

TENANT_PATTERN: Final = r"^[^\x00-\x1f\x7f]{1,128}$"  # what a token's tenant claim may be
MODEL_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$"
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
Tenant = Annotated[str, msgspec.Meta(pattern=TENANT_PATTERN, description="The tenant acted on")]
Model = Annotated[str, msgspec.Meta(pattern=MODEL_PATTERN, description="Embedding model")]
ChunkTokens = Annotated[int, msgspec.Meta(ge=1, le=8192, description="Tokens per chunk")]
# gt=-1, not ge=0: Litestar leaves a falsy `minimum` out of the OpenAPI document.
Overlap = Annotated[int, msgspec.Meta(gt=-1, le=4096, description="Tokens shared by neighbours")]


class ReprocessRequest(msgspec.Struct, frozen=True, kw_only=True):
    """POST /v1/admin/reprocess."""

    tenant_id: Tenant
    embedding_model: Model
    chunk_tokens: ChunkTokens | None = None  # default: the active set's, else the configured
    chunk_overlap: Overlap | None = None
    document_id: Annotated[str, msgspec.Meta(pattern=ID_PATTERN)] | None = None
    since: (
        Annotated[
            datetime, msgspec.Meta(tz=True, description="Only documents uploaded at or after")
        ]
        | None
    ) = None


class ActivateRequest(msgspec.Struct, frozen=True, kw_only=True):
    """POST /v1/admin/vector-sets/activate."""

    tenant_id: Tenant
    embedding_model: Model
    chunk_tokens: ChunkTokens | None = None
    chunk_overlap: Overlap | None = None
    set_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None
    force: Annotated[bool, msgspec.Meta(description="Activate even if the set lacks documents")] = (
        False
    )


class PruneRequest(msgspec.Struct, frozen=True, kw_only=True):
    """POST /v1/admin/vector-sets/prune."""

    dry_run: bool = False
    force: Annotated[
        bool, msgspec.Meta(description="Also drop sets that reprocess jobs still write")
    ] = False


def _answers(body: type[msgspec.Struct], description: str, *errors: int) -> dict[int, ResponseSpec]:
    refused = {
        status: ResponseSpec(
            Problem, description=text, media_type=PROBLEM_JSON, generate_examples=False
        )
        for status, text in (
            (404, "No such vector set (or document)"),
            (409, "Several sets match, or the set lacks documents the active one has"),
            (422, "This deployment cannot embed with that model or chunking"),
        )
        if status in errors
    }
    ok = 202 if body is Reprocessing else 200
    return {
        ok: ResponseSpec(body, description=description, generate_examples=False),
        **error_responses(),
        **refused,
    }


class VectorSetController(Controller):
    """Vector sets for admins; collaborators by name: `vector_sets` and `admin` (the caller,
    its audit records and its body)."""

    path = "/v1/admin"
    security = SECURITY
    guards = [requires(ADMIN_REPLAY)]  # noqa: RUF012 - Litestar reads it from the class
    dependencies = {"admin": ADMIN_CALL}  # noqa: RUF012

    @post(
        "/reprocess",
        status_code=202,
        responses=_answers(Reprocessing, "The new jobs and the set they write", 404, 422),
    )
    async def reprocess(
        self, data: ReprocessRequest, admin: AdminCall, vector_sets: VectorSetAdmin
    ) -> Response[Reprocessing]:
        """Send a tenant's documents through parse and embed again, as new jobs that write a
        second vector set (the model and chunking given) beside the one it searches."""
        data = await admin.body(ReprocessRequest)
        key = await vector_sets.target(
            data.tenant_id, data.embedding_model, data.chunk_tokens, data.chunk_overlap
        )
        scope = data.document_id or (f"since {data.since.isoformat()}" if data.since else "all")
        await admin.record(
            ADMIN_REPLAY,
            "vectors.reprocess",
            data.tenant_id,
            f"{key.describe()}; documents: {scope}",
        )
        done = await vector_sets.reprocess(
            data.tenant_id, key, document_id=data.document_id, since=data.since
        )
        return Response(done, status_code=202)

    @get(
        "/vector-sets",
        responses=_answers(TenantSets, "Every vector set, with the tenant's share of it"),
    )
    async def list_sets(
        self,
        admin: AdminCall,
        vector_sets: VectorSetAdmin,
        tenant_id: Annotated[
            str, Parameter(pattern=TENANT_PATTERN, description="The tenant to count for")
        ],
    ) -> TenantSets:
        """Every vector set, whether the tenant searches it, its chunks and documents there."""
        await admin.record(ADMIN_REPLAY, "vectors.list", tenant_id, "vector sets")
        return await vector_sets.listing(tenant_id)

    @post(
        "/vector-sets/activate",
        status_code=200,
        responses=_answers(Activation, "The set the tenant now searches", 404, 409, 422),
    )
    async def activate(
        self, data: ActivateRequest, admin: AdminCall, vector_sets: VectorSetAdmin
    ) -> Activation:
        """Switch the tenant's search to one vector set, atomically."""
        data = await admin.body(ActivateRequest)
        chunking = "" if data.chunk_tokens is None else f" {data.chunk_tokens}"
        chunking += "" if data.chunk_overlap is None else f"/{data.chunk_overlap}"
        await admin.record(
            ADMIN_REPLAY,
            "vectors.activate",
            data.tenant_id,
            f"{data.embedding_model}{chunking}"
            + (f" set {data.set_id}" if data.set_id else "")
            + (" (forced)" if data.force else ""),
        )
        return await vector_sets.activate(
            data.tenant_id,
            data.embedding_model,
            chunk_tokens=data.chunk_tokens,
            chunk_overlap=data.chunk_overlap,
            set_id=data.set_id,
            force=data.force,
        )

    @post(
        "/vector-sets/prune",
        status_code=200,
        responses=_answers(Pruning, "What was dropped and what was kept"),
    )
    async def prune(
        self, data: PruneRequest, admin: AdminCall, vector_sets: VectorSetAdmin
    ) -> Pruning:
        """Drop the vector sets no tenant searches (their tables)."""
        data = await admin.body(PruneRequest)
        if not data.dry_run:
            target = "inactive sets" + (" (forced)" if data.force else "")
            await admin.record(ADMIN_REPLAY, "vectors.prune", "*", target)
        return await vector_sets.prune(dry_run=data.dry_run, force=data.force)
