"""`sluice delete DOCUMENT`: delete a document so that no replay brings it back."""

from __future__ import annotations

from services.cli.client import Api
from services.cli.exits import Exit
from services.cli.output import Output


async def delete(api: Api, out: Output, document_id: str) -> int:
    """Delete the document (the caller's; any tenant's with admin:jobs) and say what went."""
    deletion = await api.delete(document_id)
    out.answer(
        deletion,
        f"document {deletion.document_id} deleted: {deletion.jobs} jobs,"
        f" {deletion.chunks} chunks, {deletion.blobs} blobs removed;"
        f" {len(deletion.deleted_jobs)} jobs will never be processed again"
        " (uploading the file again makes a new one)",
    )
    return Exit.OK
