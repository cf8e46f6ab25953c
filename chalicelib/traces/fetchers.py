"""Where an import job's pages come from: an integration's source, or an uploaded file."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from chalicelib import clients, wiring
from chalicelib.config import get_settings
from chalicelib.integrations.service import open_source
from chalicelib.sources.models import ImportFilters, SourcePage
from chalicelib.traces.uploads import read_upload_page


@contextmanager
def page_fetcher(workspace_id: str, params: dict) -> Iterator[Callable[[str | None], SourcePage]]:
    """A ``fetch(cursor) -> SourcePage`` for the job's params, closed after use."""
    if params.get("upload_key"):
        uploads = wiring.upload_store()
        yield lambda cursor: read_upload_page(uploads, params, cursor)
        return
    http = clients.source_http_client()
    try:
        source = open_source(workspace_id, params["integration_id"], repo=wiring.integration_repo(),
                             keyring=wiring.keyring(), http=http, max_attempts=get_settings().source_max_attempts)
        filters = ImportFilters.model_validate(params.get("filters") or {})
        yield lambda cursor: source.fetch_page(filters, cursor)
    finally:
        http.close()
