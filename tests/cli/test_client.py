"""The client against fake APIs (httpx.MockTransport): error mapping, retries with Retry-After,
cursor paging, gzip and presigned uploads, wait with progress, and where settings come from."""

from __future__ import annotations

import gzip
import json
import os
import stat
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from iofold import Client, Forbidden, NotFound, RateLimited, ServerError, ValidationError, config
from iofold.errors import ConnectionFailed, Unprocessable

API = "http://iofold.test/v1"


def _error(status: int, code: str, message: str = "no", details: list | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, "details": details or [],
                                                  "request_id": "req-1"}})


def _client(handler, **kw) -> tuple[Client, list[float]]:
    slept: list[float] = []
    return Client(API, "iof_test", transport=httpx.MockTransport(handler), sleep=slept.append, **kw), slept


def _job(status: str = "succeeded", progress: int = 100, **extra) -> dict:
    return {"id": "job_1", "type": "execute", "status": status, "progress": progress,
            "created_at": "2026-01-01T00:00:00Z", **extra}


@pytest.mark.parametrize("status, code, cls", [
    (404, "NOT_FOUND", NotFound), (403, "FORBIDDEN", Forbidden), (422, "UNPROCESSABLE", Unprocessable),
    (400, "VALIDATION_ERROR", ValidationError)])
def test_error_codes_become_typed_exceptions(status, code, cls):
    client, _ = _client(lambda request: _error(status, code, "eval set es_x not found", [{"field": "name"}]))
    with pytest.raises(cls) as caught:
        client.get_eval_set("es_x")
    assert (caught.value.status, caught.value.code, caught.value.message) == (status, code, "eval set es_x not found")
    assert caught.value.details == [{"field": "name"}] and caught.value.request_id == "req-1"


def test_the_key_is_sent_as_a_bearer_token():
    seen = []

    def handler(request):
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"status": "ok", "version": "1"})

    client, _ = _client(handler)
    assert client.health()["status"] == "ok" and seen == ["Bearer iof_test"]


def test_429_is_retried_after_the_seconds_retry_after_says():
    answers = iter([_error(429, "RATE_LIMITED"), _error(429, "RATE_LIMITED"), httpx.Response(200, json=_job())])

    def handler(request):
        response = next(answers)
        if response.status_code == 429:
            response.headers["Retry-After"] = "7"
        return response

    client, slept = _client(handler)
    assert client.get_job("job_1").status == "succeeded"
    assert slept == [7.0, 7.0]


def test_503_with_an_http_date_retry_after_waits_until_then():
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    answers = iter([httpx.Response(503, text="busy", headers={"Retry-After": format_datetime(when, usegmt=True)}),
                    httpx.Response(200, json=_job())])
    client, slept = _client(lambda request: next(answers))
    client.get_job("job_1")
    assert len(slept) == 1 and 25 <= slept[0] <= 30


def test_retries_end_with_the_mapped_error_and_back_off_without_retry_after():
    calls = []

    def handler(request):
        calls.append(request.method)
        return _error(429, "RATE_LIMITED")

    client, slept = _client(handler, max_retries=3, backoff_s=0.5)
    with pytest.raises(RateLimited):
        client.get_job("job_1")
    assert len(calls) == 4 and slept == [0.5, 1.0, 2.0]


def test_a_500_is_retried_on_get_but_not_on_post():
    calls = []

    def handler(request):
        calls.append(request.method)
        return _error(500, "INTERNAL")

    client, _ = _client(handler, max_retries=2)
    with pytest.raises(ServerError):
        client.get_job("job_1")
    with pytest.raises(ServerError):
        client.generate("es_1")
    assert calls == ["GET", "GET", "GET", "POST"]


def test_a_refused_connection_is_retried_then_reported():
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    client, slept = _client(handler, max_retries=2)
    with pytest.raises(ConnectionFailed):
        client.workspace()
    assert len(slept) == 2


def test_lists_follow_cursors_across_pages_lazily():
    requested = []

    def handler(request):
        cursor = request.url.params.get("cursor")
        requested.append(cursor)
        page = {None: (["es_1", "es_2"], "c1"), "c1": (["es_3"], "c2"), "c2": ([], None)}[cursor]
        items = [{"id": i, "workspace_id": "ws", "name": i, "created_at": "t", "updated_at": "t", "created_by": "k"}
                 for i in page[0]]
        return httpx.Response(200, json={"items": items, "next_cursor": page[1]})

    client, _ = _client(handler)
    sets = client.eval_sets()
    assert next(sets).id == "es_1" and requested == [None]
    assert [s.id for s in sets] == ["es_2", "es_3"] and requested == [None, "c1", "c2"]


def test_upload_sends_plain_files_gzipped_and_gz_files_as_they_are(tmp_path):
    bodies = []

    def handler(request):
        bodies.append((request.headers.get("content-encoding"), request.url.params["format"], request.content))
        return httpx.Response(202, json={"job_id": "job_1"})

    plain = tmp_path / "t.jsonl"
    plain.write_bytes(b'{"id": "a"}\n{"id": "b"}\n')
    packed = tmp_path / "t.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"id": "c"}\n', mtime=0))
    client, _ = _client(handler)
    assert client.upload(plain, format="unified").job_id == "job_1"
    client.upload(packed)
    assert bodies[0][:2] == ("gzip", "unified") and gzip.decompress(bodies[0][2]) == plain.read_bytes()
    assert bodies[1] == ("gzip", "langfuse", packed.read_bytes())


def test_large_uploads_go_to_the_presigned_url_without_the_api_key(tmp_path):
    seen = []

    def handler(request):
        seen.append((request.method, request.url.path, request.headers.get("authorization"), request.content))
        if request.url.path == "/v1/traces/uploads":
            assert json.loads(request.content) == {"format": "otlp", "filename": "big.jsonl",
                                                   "content_encoding": "gzip"}
            return httpx.Response(201, json={
                "upload_id": "up_1", "put_url": "http://s3.test/bucket/up_1?X-Amz-Signature=abc", "method": "PUT",
                "headers": {"Content-Type": "application/gzip"}, "expires_at": "t", "max_bytes": 10 ** 9,
                "import_path": "/v1/traces/uploads/up_1/import"})
        if request.url.host == "s3.test":
            assert request.headers["content-type"] == "application/gzip"
            return httpx.Response(200)
        return httpx.Response(202, json={"job_id": "job_9"})

    big = tmp_path / "big.jsonl"
    big.write_bytes(b"".join(json.dumps({"id": str(i), "pad": os.urandom(40).hex()}).encode() + b"\n"
                             for i in range(400)))
    client, _ = _client(handler, presign_over=1000)
    assert client.upload(big, format="otlp").job_id == "job_9"
    assert [(m, p, a) for m, p, a, _ in seen] == [
        ("POST", "/v1/traces/uploads", "Bearer iof_test"), ("PUT", "/bucket/up_1", None),
        ("POST", "/v1/traces/uploads/up_1/import", "Bearer iof_test")]
    assert gzip.decompress(seen[1][3]) == big.read_bytes()


def test_wait_reports_progress_and_new_events_until_the_job_ends():
    states = iter([_job("running", 10), _job("running", 60), _job("succeeded", 100, result={"pass": 3})])
    events = [{"seq": i, "at": "t", "message": f"step {i}", "progress": 10 * i} for i in (1, 2, 3)]

    def handler(request):
        if request.url.path.endswith("/events"):
            after = int(request.url.params["after"])
            return httpx.Response(200, json={"items": [e for e in events if e["seq"] > after][:2 if after == 0 else 9],
                                             "next_cursor": None})
        return httpx.Response(200, json=next(states))

    client, slept = _client(handler)
    seen = []
    job = client.wait("job_1", on_progress=lambda j, evs: seen.append((j.progress, [e.seq for e in evs])),
                      interval_s=0.25)
    assert job.result == {"pass": 3} and slept == [0.25, 0.25]
    assert seen == [(10, [1, 2]), (60, [3]), (100, [])]


def test_settings_come_from_flags_then_environment_then_login_file_then_local_stack(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("IOFOLD_API_URL", raising=False)
    monkeypatch.delenv("IOFOLD_API_KEY", raising=False)
    monkeypatch.delenv("IOFOLD_DATA_DIR", raising=False)
    project = tmp_path / "project" / "sub"
    project.mkdir(parents=True)
    (tmp_path / "project" / ".iofold").mkdir()
    (tmp_path / "project" / ".iofold" / "local.json").write_text(json.dumps({"api_url": "http://local/v1",
                                                                             "api_key": "k_local"}))
    monkeypatch.chdir(project)
    assert config.resolve() == config.Settings("http://local/v1", "k_local", str(
        tmp_path / "project" / ".iofold" / "local.json"), str(tmp_path / "project" / ".iofold" / "local.json"))

    path = config.save_login("http://login/v1/", "k_login")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path == tmp_path / "xdg" / "iofold" / "config.json"
    assert (config.resolve().api_url, config.resolve().api_key) == ("http://login/v1", "k_login")

    monkeypatch.setenv("IOFOLD_API_KEY", "k_env")
    assert (config.resolve().api_url, config.resolve().api_key) == ("http://login/v1", "k_env")
    monkeypatch.setenv("IOFOLD_API_URL", "http://env/v1")
    assert (config.resolve().api_url, config.resolve().key_from) == ("http://env/v1", "environment")
    assert config.resolve("http://flag/v1", "k_flag") == config.Settings("http://flag/v1", "k_flag", "flag", "flag")


def test_a_login_file_with_loose_permissions_is_tightened(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "iofold").mkdir()
    (tmp_path / "iofold" / "config.json").write_text("{}")
    (tmp_path / "iofold" / "config.json").chmod(0o644)
    path = config.save_login("http://x/v1", "k")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_settings_anywhere_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("IOFOLD_DATA_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("IOFOLD_API_URL", raising=False)
    monkeypatch.delenv("IOFOLD_API_KEY", raising=False)
    with pytest.raises(config.ConfigError, match="iofold login"):
        Client()


def test_importing_the_client_loads_no_aws_or_server_code():
    import subprocess
    import sys

    code = ("import sys, iofold, iofold.cli, iofold.review; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'chalice', 'anthropic', "
            "'app'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=config.Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_every_api_route_has_a_client_method():
    """Each route of the API is called somewhere in iofold/client.py (a new route needs a method)."""
    import re

    from app import api as registry

    source = (config.Path(__file__).resolve().parents[2] / "iofold" / "client.py").read_text()
    called = {(m, re.sub(r"\{[^}]*\}", "{}", p)) for m, p in re.findall(
        r'"(GET|POST|PUT|PATCH|DELETE)", f?"(/[^"?]*)"', source)}
    called |= {("GET", re.sub(r"\{[^}]*\}", "{}", p)) for p in re.findall(r'_get\(\w+, f?"(/[^"?]*)"', source)}
    called |= {("GET", re.sub(r"\{[^}]*\}", "{}", p)) for p in re.findall(r'paginate\(\w+, f?"(/[^"?]*)"', source)}
    # OpenTelemetry exporters, not this client, send to the OTLP receiver
    called.add(("POST", "/otlp/v1/traces"))
    missing = [(r.method, r.path) for r in registry.routes
               if (r.method, re.sub(r"\{[^}]*\}", "{}", r.path.removeprefix("/v1"))) not in called]
    assert missing == []


def test_requests_are_checked_by_the_api_not_before_sending():
    """A bad value reaches the API, so the caller gets its ValidationError with details, as from the CLI."""
    sent = []

    def handler(request):
        sent.append(json.loads(request.content))
        return _error(400, "VALIDATION_ERROR", "invalid schedule expression", [{"field": "expression"}])

    client, _ = _client(handler)
    with pytest.raises(ValidationError) as caught:
        client.put_schedule("int_1", "every tuesday")
    assert sent == [{"expression": "every tuesday", "run_active_evals": False, "filters": {}}]
    assert caught.value.details == [{"field": "expression"}]


def test_matrix_rows_follow_cursors_and_ask_for_stats_once():
    queries = []

    def row(n: int) -> dict:
        return {"trace_id": f"tr_{n}", "trace": None, "human": {"rating": "positive"}, "results": {}}

    def handler(request):
        queries.append(dict(request.url.params))
        cursor = request.url.params.get("cursor")
        rows, nxt = ([row(1), row(2)], "c1") if cursor is None else ([row(3)], None)
        return httpx.Response(200, json={"evals": [], "rows": rows, "stats": {}, "next_cursor": nxt})

    client, _ = _client(handler)
    first = client.matrix("es_1", filter="contradictions", limit=2)
    assert [r.trace_id for r in client.matrix_rows("es_1", first=first, filter="contradictions", limit=2)] == [
        "tr_1", "tr_2", "tr_3"]
    assert queries == [{"filter": "contradictions", "limit": "2"},
                       {"filter": "contradictions", "limit": "2", "stats": "none", "cursor": "c1"}]


def test_job_failures_walks_every_page_of_the_failures_route():
    pages = {None: ({"items": [{"external_id": "a", "reason": "bad", "line": 1}], "next_cursor": "c2"}),
             "c2": ({"items": [{"reason": "worse", "line": 2}], "next_cursor": None})}

    def handler(request):
        assert request.url.path == "/v1/jobs/job_1/failures"
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    client, _ = _client(handler)
    assert [(f.line, f.reason) for f in client.job_failures("job_1")] == [(1, "bad"), (2, "worse")]


def test_trend_sends_bucket_and_range_and_reads_the_points():
    seen = []

    def handler(request):
        seen.append(dict(request.url.params))
        return httpx.Response(200, json={"eval_id": "ev_1", "bucket": "hour", "from": "2026-01-01T00:00:00.000Z",
                                         "to": "2026-01-01T02:00:00.000Z", "drop_threshold": 0.15, "points": [
                                             {"start": "2026-01-01T01:00:00.000Z", "executed": 4, "pass": 3, "fail": 1,
                                              "error": 0, "timeout": 0, "pass_rate": 0.75, "drop": False}]})

    client, _ = _client(handler)
    trend = client.trend("ev_1", "hour", since="2026-01-01")
    assert seen == [{"bucket": "hour", "from": "2026-01-01"}]
    assert trend.from_ == "2026-01-01T00:00:00.000Z" and trend.points[0].pass_ == 3
    assert trend.points[0].model_dump(by_alias=True)["pass"] == 3
