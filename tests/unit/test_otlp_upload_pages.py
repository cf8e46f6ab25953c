"""Paging an uploaded OTLP file: spans grouped over the whole file first, then pages of traces."""

from __future__ import annotations

import json

from chalicelib.traces.tasks import read_otlp_upload_page
from tests.unit.sources.test_otlp_payloads import request, simple_spans


def _body(n: int) -> bytes:
    lines = [json.dumps(request(simple_spans(f"{i + 1:032x}", question=f"q{i}"))) for i in range(n)]
    return ("\n".join(["{broken", *lines, json.dumps(request(simple_spans(f"{1:032x}", question="again")))])
            + "\n").encode()


def test_pages_walk_every_grouped_trace_once_and_report_line_failures_on_the_first_page():
    body = _body(450)
    seen, failures, cursor, pages = [], [], None, 0
    while True:
        page = read_otlp_upload_page(body, cursor)
        pages += 1
        assert page.total == 450
        seen += [trace["id"] for trace in page.traces]
        failures += [failure.reason for failure in page.failures]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 450
    assert len(failures) == 1 and failures[0].startswith("line 1: malformed JSON")
    first = read_otlp_upload_page(body, None).traces[0]
    assert first["lines"] == [2, 452] and len(first["spans"]) == 2 * len(simple_spans())
