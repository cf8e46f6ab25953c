"""POST /v1/otlp/v1/traces through the real OpenTelemetry SDK and its OTLP/HTTP exporter, over HTTP
to the local API server; assembly through the otlp_assemble function as the scheduler invokes it."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from chalicelib.ids import trace_id_for
from tests.conftest import invoke_function, serve_api
from tests.unit.sources.test_otlp_payloads import agent_spans, request


@pytest.fixture(scope="module")
def served(stack):
    for origin, key in serve_api("otel"):
        yield f"{origin}/v1", key


def assemble(stack) -> dict:
    """Run the otlp_assemble function once, through Lambda, as its schedule does."""
    return invoke_function(stack, "otlp_assemble")


def provider(monkeypatch, base: str, key: str):
    """A TracerProvider exporting with OTLP/HTTP configured only by the two environment variables."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"{base}/otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{key}")
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "weather-agent"}))
    exporter = OTLPSpanExporter()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    return tracer_provider, exporter


def _llm(tracer, name: str, history: list[dict], answer: dict):
    span = tracer.start_span(name, attributes={"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                                               "llm.token_count.prompt": 50, "llm.token_count.completion": 10})
    for prefix, items in (("llm.input_messages", history), ("llm.output_messages", [answer])):
        for i, message in enumerate(items):
            span.set_attribute(f"{prefix}.{i}.message.role", message["role"])
            if message.get("content"):
                span.set_attribute(f"{prefix}.{i}.message.content", message["content"])
            for j, call in enumerate(message.get("tool_calls", [])):
                head = f"{prefix}.{i}.message.tool_calls.{j}.tool_call"
                span.set_attribute(f"{head}.id", call["id"])
                span.set_attribute(f"{head}.function.name", call["name"])
                span.set_attribute(f"{head}.function.arguments", json.dumps(call["arguments"]))
    return span


def test_a_run_exported_in_pieces_becomes_one_trace_once_its_root_ends(stack, served, monkeypatch):
    from opentelemetry import trace as otel_trace

    base, key = served
    tracer_provider, _ = provider(monkeypatch, base, key)
    tracer = tracer_provider.get_tracer("test")
    user = {"role": "user", "content": "Weather in Paris?"}
    ask = {"role": "assistant", "content": "", "tool_calls": [{"id": "call_9", "name": "get_weather",
                                                               "arguments": {"city": "Paris"}}]}
    result = {"role": "tool", "content": "18C, sunny", "tool_call_id": "call_9"}
    final = {"role": "assistant", "content": "It is 18C and sunny in Paris."}

    root = tracer.start_span("weather-agent", attributes={"openinference.span.kind": "AGENT",
                                                          "input.value": user["content"]})
    external = format(root.get_span_context().trace_id, "032x")
    with otel_trace.use_span(root):
        _llm(tracer, "ChatCompletion", [user], ask).end()
        assert tracer_provider.force_flush()
        with tracer.start_as_current_span("get_weather", attributes={
                "openinference.span.kind": "TOOL", "tool.name": "get_weather", "tool_call.id": "call_9",
                "input.value": json.dumps({"city": "Paris"}), "output.value": result["content"]}):
            pass
        assert tracer_provider.force_flush()
        first = assemble(stack)  # two exports arrived, the root is still open: the trace waits
        assert first["waiting"] >= 1 and trace_id_for("upload", external) not in first["assembled"]
        _llm(tracer, "ChatCompletion", [user, ask, result], final).end()
        root.set_attribute("output.value", final["content"])
    root.end()
    assert tracer_provider.force_flush()
    tracer_provider.shutdown()

    done = assemble(stack)
    trace_id = trace_id_for("upload", external)
    assert trace_id in done["assembled"]
    trace = httpx.get(f"{base}/traces/{trace_id}", headers={"Authorization": f"Bearer {key}"}).json()
    assert trace["source"]["platform"] == "otlp" and trace["name"] == "weather-agent"
    assert trace["input"] == "Weather in Paris?" and trace["output"] == final["content"]
    assert [(m["role"], m["content"]) for m in trace["messages"]][0] == ("user", "Weather in Paris?")
    assert trace["messages"][-1]["content"] == final["content"]
    assert [(c["name"], c["arguments"], c["result"]) for c in trace["tool_calls"]] == [
        ("get_weather", {"city": "Paris"}, "18C, sunny")]
    assert trace["stats"]["steps"] == 4 and trace["stats"]["input_tokens"] == 100
    listed = httpx.get(f"{base}/traces?source=otlp", headers={"Authorization": f"Bearer {key}"}).json()
    assert [item["id"] for item in listed["items"]] == [trace_id]  # exactly one trace for the run


def test_a_resent_batch_changes_nothing(stack, served, monkeypatch):
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    base, key = served
    _, exporter = provider(monkeypatch, base, key)
    memory = InMemorySpanExporter()
    local = TracerProvider()
    local.add_span_processor(SimpleSpanProcessor(memory))
    tracer = local.get_tracer("test")
    with tracer.start_as_current_span("resent", attributes={"input.value": "ping"}) as root:
        with tracer.start_as_current_span("child", attributes={"output.value": "pong"}):
            pass
    spans = memory.get_finished_spans()
    trace_id = trace_id_for("upload", format(root.get_span_context().trace_id, "032x"))

    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert trace_id in assemble(stack)["assembled"]
    headers = {"Authorization": f"Bearer {key}"}
    before = httpx.get(f"{base}/traces/{trace_id}", headers=headers).json()
    assert exporter.export(spans) == SpanExportResult.SUCCESS  # the exporter retried a batch we had stored
    again = assemble(stack)
    assert trace_id in again["assembled"] and again["skipped"] >= 1
    assert httpx.get(f"{base}/traces/{trace_id}", headers=headers).json() == before
    assert before["stats"]["steps"] == 2
    exporter.shutdown()


def _post(base: str, body: bytes, *, key: str | None, content_type: str = "application/json", **headers):
    sent = {"Content-Type": content_type, **headers}
    if key:
        sent["Authorization"] = f"Bearer {key}"
    return httpx.post(f"{base}/otlp/v1/traces", content=body, headers=sent)


def test_a_request_without_a_key_gets_401_and_the_exporter_reports_failure(served, monkeypatch):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    base, _ = served
    response = _post(base, json.dumps(request(agent_spans())).encode(), key=None)
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert _post(base, b"{}", key="not-a-key").status_code == 401

    memory = InMemorySpanExporter()
    local = TracerProvider()
    local.add_span_processor(SimpleSpanProcessor(memory))
    with local.get_tracer("t").start_as_current_span("no key"):
        pass
    exporter = OTLPSpanExporter(endpoint=f"{base}/otlp/v1/traces")
    assert exporter.export(memory.get_finished_spans()) == SpanExportResult.FAILURE


def test_undecodable_bodies_get_400_and_gzip_json_is_accepted(served):
    base, key = served
    assert _post(base, b"\xff\x00garbage", key=key, content_type="application/x-protobuf").status_code == 400
    assert _post(base, b"{not json", key=key).status_code == 400
    assert _post(base, b"[1, 2]", key=key).status_code == 400
    assert _post(base, b'{"resourceSpans": "x"}', key=key).status_code == 400
    assert _post(base, b'{"resourceSpans": [{"scopeSpans": [{"spans": [1]}]}]}', key=key).status_code == 400
    # API Gateway's payload compression inflates before the function: plain JSON under a gzip header
    assert _post(base, json.dumps(request([])).encode(), key=key, **{"Content-Encoding": "gzip"}).status_code == 200
    assert _post(base, b"\x1f\x8bbroken", key=key, **{"Content-Encoding": "gzip"}).status_code == 400
    body = gzip.compress(json.dumps(request(agent_spans())).encode())
    ok = _post(base, body, key=key, **{"Content-Encoding": "gzip"})
    assert ok.status_code == 200 and ok.json() == {} and ok.headers["content-type"] == "application/json"


def test_rejected_spans_are_counted_in_partial_success(stack, served):
    base, key = served
    spans = agent_spans("1" * 32)
    del spans[2]["spanId"]
    spans[3]["attributes"] = "not a list"
    response = _post(base, json.dumps(request(spans)).encode(), key=key)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2" and "spanId" in partial["errorMessage"]
    assert trace_id_for("upload", "1" * 32) in assemble(stack)["assembled"]
    trace = httpx.get(f"{base}/traces/{trace_id_for('upload', '1' * 32)}",
                      headers={"Authorization": f"Bearer {key}"}).json()
    assert trace["stats"]["steps"] == len(spans) - 2


def test_protobuf_partial_success_is_answered_in_protobuf(served):
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    )

    base, key = served
    doc = request(agent_spans("2" * 32))
    for s in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:  # protobuf JSON mapping: ids in base64
        s["endTimeUnixNano"] = str(s["endTimeUnixNano"])
        for field in ("traceId", "spanId", "parentSpanId"):
            s[field] = __import__("base64").b64encode(bytes.fromhex(s[field])).decode()
    message = ParseDict(doc, ExportTraceServiceRequest())
    message.resource_spans[0].scope_spans[0].spans[0].span_id = b""  # one span without an id
    response = _post(base, message.SerializeToString(), key=key, content_type="application/x-protobuf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 1


def test_a_body_that_inflates_past_the_limit_gets_413(served):
    from chalicelib.config import get_settings

    base, key = served
    bomb = gzip.compress(b" " * (get_settings().max_body_bytes + 10))
    response = _post(base, bomb, key=key, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_the_readme_example_sends_one_trace_with_the_two_environment_variables(stack, served, tmp_path):
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    base, key = served
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Send traces from your agent", 1)[1].split("\n## ", 1)[0]
    script = tmp_path / "agent.py"
    script.write_text(re.search(r"```python\n(.*?)```", section, re.S).group(1))
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"{base}/otlp",
           "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{key}"}
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    trace_id = trace_id_for("upload", run.stdout.strip())
    assert trace_id in assemble(stack)["assembled"]
    trace = httpx.get(f"{base}/traces/{trace_id}", headers={"Authorization": f"Bearer {key}"}).json()
    assert trace["messages"][0] == {**trace["messages"][0], "role": "user", "content": "What is the weather in Paris?"}
    assert [(c["name"], c["arguments"], c["result"]) for c in trace["tool_calls"]] == [
        ("get_weather", {"city": "Paris"}, "18C, sunny")]
    assert trace["output"] == trace["messages"][-1]["content"] == "It is 18C and sunny in Paris."


class _FakeModel:
    """An OpenAI-compatible chat completions server on loopback: asks for get_weather, then answers."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        owner = self
        self.requests: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                has_result = any(m["role"] == "tool" for m in body["messages"])
                message = ({"role": "assistant", "content": "It is 18C and sunny in Paris."} if has_result else
                           {"role": "assistant", "content": None, "tool_calls": [{
                               "id": "call_w1", "type": "function",
                               "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]})
                reply = json.dumps({"id": f"chatcmpl-{len(owner.requests)}", "object": "chat.completion",
                                    "created": 1700000000, "model": body["model"], "choices": [{
                                        "index": 0, "message": message,
                                        "finish_reason": "stop" if has_result else "tool_calls"}],
                                    "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


def test_an_openinference_instrumented_openai_agent_arrives_as_one_trace(stack, served, monkeypatch):
    import openai
    from openinference.instrumentation.openai import OpenAIInstrumentor

    base, key = served
    tracer_provider, _ = provider(monkeypatch, base, key)
    model = _FakeModel()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        client = openai.OpenAI(api_key="sk-fake", base_url=model.url, max_retries=0)
        tracer = tracer_provider.get_tracer("agent")
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}]
        messages = [{"role": "user", "content": "Weather in Paris?"}]
        with tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT",
                                                               "input.value": "Weather in Paris?"}) as root:
            first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
            call = first.choices[0].message.tool_calls[0]
            tracer_provider.force_flush()  # the run reaches iofold in several exports
            with tracer.start_as_current_span("get_weather", attributes={
                    "openinference.span.kind": "TOOL", "tool.name": call.function.name, "tool_call.id": call.id,
                    "input.value": call.function.arguments, "output.value": "18C, sunny"}):
                pass
            messages += [first.choices[0].message.model_dump(exclude_none=True),
                         {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"}]
            final = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
            root.set_attribute("output.value", final.choices[0].message.content)
            external = format(root.get_span_context().trace_id, "032x")
        tracer_provider.shutdown()
    finally:
        instrumentor.uninstrument()
        model.server.shutdown()

    assert len(model.requests) == 2
    trace_id = trace_id_for("upload", external)
    assert trace_id in assemble(stack)["assembled"]
    trace = httpx.get(f"{base}/traces/{trace_id}", headers={"Authorization": f"Bearer {key}"}).json()
    assert [(m["role"], m["content"]) for m in trace["messages"]][0] == ("user", "Weather in Paris?")
    assert trace["messages"][-1]["content"] == "It is 18C and sunny in Paris."
    assert [(c["name"], c["arguments"], c["result"]) for c in trace["tool_calls"]] == [
        ("get_weather", {"city": "Paris"}, "18C, sunny")]
    assert trace["stats"]["llm_calls"] == 2 and trace["stats"]["input_tokens"] == 40


@pytest.mark.slow
def test_with_run_active_evals_an_assembled_trace_starts_a_run_of_the_active_eval(stack, api, monkeypatch):
    from chalicelib.config import reset_settings

    rated = api.upload_demo(n=12, seed=3)
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "live", "description": "", "criteria": ""}, status=201)
    api.rate(eval_set["id"], [(t, r) for t, r in rated[:8] if r != "neutral"])
    job = api.ok("POST", f"/v1/eval-sets/{eval_set['id']}/generate", {"generator": "offline"}, status=202)
    eval_id = api.wait_ok(job["job_id"])["result"]["eval_id"]
    api.ok("POST", f"/v1/evals/{eval_id}/activate")

    external = "4" * 32
    api.ok("POST", "/v1/otlp/v1/traces", request(agent_spans(external)))
    monkeypatch.setenv("IOFOLD_OTLP_RUN_ACTIVE_EVALS", "true")
    reset_settings()
    try:
        out = assemble(stack)
    finally:
        monkeypatch.delenv("IOFOLD_OTLP_RUN_ACTIVE_EVALS")
        reset_settings()
    assert api.workspace_id in out["changed_workspaces"] and len(out["eval_jobs"]) >= 1
    mine = [j for j in out["eval_jobs"] if api.get(f"/v1/jobs/{j}").status_code == 200]
    assert len(mine) == 1
    api.wait_ok(mine[0])
    executions = api.ok("GET", f"/v1/evals/{eval_id}/executions?limit=200")["items"]
    assert trace_id_for("upload", external) in {e["trace_id"] for e in executions}


def test_the_local_scheduler_assembles_received_traces_on_its_tick(stack, served):
    from infra.local.scheduler import LocalScheduler

    base, key = served
    external = "5" * 32
    assert _post(base, json.dumps(request(agent_spans(external))).encode(), key=key).status_code == 200
    trace_url = f"{base}/traces/{trace_id_for('upload', external)}"
    assert httpx.get(trace_url, headers={"Authorization": f"Bearer {key}"}).status_code == 404  # never in the request
    LocalScheduler(periodic=(stack.provisioned.function_arns["otlp_assemble"],)).tick()
    assert httpx.get(trace_url, headers={"Authorization": f"Bearer {key}"}).json()["stats"]["steps"] == 7
