"""Ingest HTTP routes: POST /v1/documents."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import UploadFile

from services.common.auth import Principal
from services.common.http import Problem, problem
from services.ingest.service import IngestService, UploadAccepted


@post("/v1/documents", status_code=202)
async def upload_document(
    request: Request[Any, Any, Any], principal: Principal, ingest: IngestService
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
        idempotency_key=request.headers.get("idempotency-key"),
    )
    return Response(accepted, status_code=202)
