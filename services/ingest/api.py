"""Ingest HTTP routes: POST /v1/documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, post
from litestar.datastructures import UploadFile
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
)
from litestar.openapi.spec import Schema as OpenAPISchema
from litestar.params import Parameter

from services.common.access import SECURITY, error_responses, requires
from services.common.api_bodies import UploadAccepted
from services.common.auth import WRITE, Principal
from services.common.problems import Problem, problem
from services.ingest.core.uploads import MAX_IDEMPOTENCY_KEY, MAX_METADATA_BYTES
from services.ingest.limits import limit_uploads
from services.ingest.service import IngestService

_UPLOAD_BODY = RequestBody(
    required=True,
    description="The document and, optionally, metadata to carry along with it.",
    content={
        "multipart/form-data": OpenAPIMediaType(
            schema=OpenAPISchema(
                type=OpenAPIType.OBJECT,
                required=["file"],
                properties={
                    "file": OpenAPISchema(
                        type=OpenAPIType.STRING,
                        format=OpenAPIFormat.BINARY,
                        description="The document; its type is sniffed from the bytes",
                    ),
                    "metadata": OpenAPISchema(
                        type=OpenAPIType.STRING,
                        max_length=MAX_METADATA_BYTES,
                        description="A JSON object (at most 16 KiB, 32 levels, no NUL)",
                    ),
                },
            )
        )
    },
)


_RETRY_AFTER = OpenAPIHeader(
    schema=OpenAPISchema(type=OpenAPIType.INTEGER, minimum=1),
    required=True,
    description="Seconds to wait before trying again",
)


@dataclass
class _UploadOperation(Operation):
    """The upload's OpenAPI operation: the multipart body the handler reads itself, and the
    Retry-After header of its 429 and 503 answers."""

    def __post_init__(self) -> None:
        self.request_body = _UPLOAD_BODY
        for status in ("429", "503"):
            response = (self.responses or {}).get(status)
            if isinstance(response, OpenAPIResponse):
                response.headers = {"Retry-After": _RETRY_AFTER}


@post(
    "/v1/documents",
    status_code=202,
    guards=[requires(WRITE)],  # before the body is read: a token without the scope costs nothing
    middleware=[limit_uploads],  # the process's cap (503) and the tenant's limits (429), ditto
    security=SECURITY,
    operation_class=_UploadOperation,
    responses={
        202: ResponseSpec(
            UploadAccepted, description="Queued: where to follow the job", generate_examples=False
        ),
        **error_responses(409, 413, 415, 422, 429),
    },
)
async def upload_document(
    request: Request[Any, Any, Any],
    principal: Principal,
    ingest: IngestService,
    idempotency_key: Annotated[
        str | None,
        Parameter(
            header="Idempotency-Key",
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY,
            description="A retry with the same key and bytes returns the original job",
        ),
    ] = None,
) -> Response[UploadAccepted] | Response[Problem]:
    """Accept a document (multipart field `file`, optional `metadata` JSON object)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return problem(415, "Unsupported Media Type", "send multipart/form-data with a 'file' part")
    form = await request.form()
    file = form.get("file")
    if not isinstance(file, UploadFile):
        return problem(400, "Bad Request", "multipart field 'file' is missing or not a file")
    metadata = form.get("metadata")
    if isinstance(metadata, UploadFile):
        metadata = await metadata.read()
    accepted = await ingest.accept(  # refusals (UploadRejectedError) answer problem+json
        principal,
        data=await file.read(),
        filename=file.filename,
        metadata_json=metadata if isinstance(metadata, str | bytes) else None,
        idempotency_key=idempotency_key,
    )
    return Response(accepted, status_code=202)
