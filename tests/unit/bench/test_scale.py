"""bench/scale.py: DynamoDB sizes and request units, history figures, the cost model and the
extrapolation arithmetic; the call counter on real botocore clients against moto; and a smoke
run of the whole harness on the local stack (its own process: it starts a stack of its own)."""

from __future__ import annotations

import contextvars
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from bench import scale
from bench.scale import (ExecutionStats, IndexShape, Recorder, Usage, cost_usd, distributed_maps, fit,
                         gsi_write_units, largest_payload, read_units, state_transitions, write_units)
from chalicelib.storage import attribute_size, item_size

ROOT = Path(__file__).resolve().parents[3]


def test_item_size_follows_dynamodb_rules():
    # names count too; strings by UTF-8 bytes; numbers ~1 byte per 2 significant digits + 1
    assert item_size({"id": {"S": "abc"}}) == 2 + 3
    assert attribute_size({"S": "é"}) == 2
    assert attribute_size({"N": "12345"}) == 4
    assert attribute_size({"N": "-0.5"}) == 2
    assert attribute_size({"B": "AAAA"}) == 3  # base64 of three bytes
    assert attribute_size({"BOOL": True}) == attribute_size({"NULL": True}) == 1
    assert attribute_size({"L": [{"S": "ab"}, {"S": "c"}]}) == 3 + (1 + 2) + (1 + 1)
    assert attribute_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert attribute_size({"SS": ["a", "bc"]}) == 3


def test_request_units_round_up_per_kilobyte_and_four_kilobytes():
    assert write_units(1) == 1 and write_units(1024) == 1 and write_units(1025) == 2
    assert read_units(4096, consistent=True) == 1 and read_units(4097, consistent=True) == 2
    assert read_units(100, consistent=False) == 0.5


def test_gsi_writes_count_only_indexes_holding_the_item_at_their_projection():
    item = {"pk": {"S": "p"}, "sk": {"S": "s"}, "at": {"S": "t"}, "body": {"S": "x" * 3000}}
    all_index = IndexShape(("pk", "at"), "ALL")
    keys_only = IndexShape(("pk", "at"), "KEYS_ONLY")
    absent = IndexShape(("other",), "ALL")
    assert gsi_write_units(item, ("pk", "sk"), [all_index]) == 3
    assert gsi_write_units(item, ("pk", "sk"), [keys_only]) == 1
    assert gsi_write_units(item, ("pk", "sk"), [absent]) == 0


def test_fit_through_two_sizes_separates_fixed_from_per_trace():
    line = fit([(4000, 140.0), (1000, 50.0)])
    assert line.slope == pytest.approx(0.03) and line.intercept == pytest.approx(20.0)
    assert line.at(1_000_000) == pytest.approx(30_020.0)
    assert fit([(200, 30.0), (50, 30.0)]).at(1_000_000) == 30.0  # constant per execution stays constant
    assert fit([(200, 10.0)]).at(1000) == pytest.approx(50.0)  # one size: proportional
    assert fit([(50, 12.0), (200, 11.0)]).slope == 0.0  # noise never extrapolates downwards


def test_history_figures_count_transitions_retries_and_payloads():
    events = [
        {"type": "ExecutionStarted", "executionStartedEventDetails": {"input": "x" * 10}},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "A", "input": "{}"}},
        {"type": "TaskScheduled", "taskScheduledEventDetails": {"parameters": "p" * 40}},
        {"type": "TaskFailed"}, {"type": "TaskScheduled", "taskScheduledEventDetails": {"parameters": "p"}},
        {"type": "TaskSucceeded", "taskSucceededEventDetails": {"output": "é" * 30}},
        {"type": "MapStateEntered", "stateEnteredEventDetails": {"name": "M", "input": "{}"}},
        {"type": "ExecutionSucceeded"},
    ]
    assert state_transitions(events) == 2 + 1  # two states entered, one retry
    assert largest_payload(events) == 60  # the UTF-8 bytes of the largest output


def test_distributed_maps_are_found_at_any_depth():
    definition = {"States": {
        "Inline": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "States": {
            "Inner": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"},
                                                         "States": {"T": {"Type": "Task"}}}}}}},
        "P": {"Type": "Parallel", "Branches": [{"States": {"D": {"Type": "Map", "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, "States": {}}}}}]}}}
    assert len(distributed_maps(definition)) == 2


def test_cost_model_prices_each_line_item():
    usage = Usage()
    usage.lambda_invocations.update({"execute_chunk": 10, "sandbox": 10, scale.API: 99})
    usage.lambda_seconds.update({"execute_chunk": 2.0, "sandbox": 1.0})
    usage.calls.update({("execute_chunk", "s3", "GetObject"): 1000, ("execute_chunk", "s3", "PutObject"): 100,
                        ("execute_chunk", "kms", "Decrypt"): 10_000, (scale.API, "s3", "PutObject"): 7})
    usage.ddb_write_units.update({"execute_chunk": 2_000_000, scale.API: 5})
    usage.ddb_read_units.update({"execute_chunk": 1_000_000})
    executions = [ExecutionStats("execute_eval", events=50, transitions=40, largest_payload=1, map_iterations=0,
                                 child_executions=10, child_transitions=10)]
    cost = cost_usd(usage, executions, {"execute_chunk": 1024, "sandbox": 512})
    assert cost["Lambda requests"] == pytest.approx(20 * 0.20 / 1e6)
    assert cost["Lambda duration (GB-s)"] == pytest.approx((2.0 * 1 + 1.0 * 0.5) * 0.0000166667)
    assert cost["Step Functions standard transitions"] == pytest.approx(50 * 0.025 / 1000)
    assert cost["DynamoDB writes (WRU)"] == pytest.approx(2 * 0.625)
    assert cost["DynamoDB reads (RRU)"] == pytest.approx(0.125)
    assert cost["S3 PUT/LIST requests"] == pytest.approx(100 * 0.005 / 1000)  # the API's own PUT left out
    assert cost["S3 GET requests"] == pytest.approx(1000 * 0.0004 / 1000)
    assert cost["KMS requests"] == pytest.approx(0.03)
    assert cost["Step Functions express children"] == 0


def test_recorder_counts_calls_and_request_units_of_real_clients(stack):
    recorder = Recorder()
    session = boto3.session.Session(region_name="eu-west-2")  # a region of its own on the test stack's moto
    session.events.register("before-call", recorder.before_call)
    session.events.register("after-call", recorder.after_call)
    ddb = session.resource("dynamodb")
    table = ddb.create_table(TableName="scale-recorder", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    try:
        usage = recorder.start("test")
        with table.batch_writer() as batch:
            for i in range(30):
                batch.put_item(Item={"pk": f"k{i}", "body": "x" * 1500})  # 2 write units each
        table.get_item(Key={"pk": "k1"})
        table.get_item(Key={"pk": "k2"}, ConsistentRead=True)
        table.update_item(Key={"pk": "k3"}, UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": 1})
        recorder.stop()
        table.get_item(Key={"pk": "k1"})  # after stop: not counted
    finally:
        table.delete()
    calls = usage.calls_by(include_api=True)
    assert calls[("dynamodb", "BatchWriteItem")] == 2  # 25 + 5
    assert calls[("dynamodb", "GetItem")] == 2 and calls[("dynamodb", "UpdateItem")] == 1
    assert sum(usage.ddb_write_units.values()) == 30 * 2 + 2  # the update rewrites a 1.5 KB item
    assert sum(usage.ddb_read_units.values()) == 0.5 + 1.0
    assert usage.largest_item == item_size({"pk": {"S": "k10"}, "body": {"S": "x" * 1500}})


def test_calls_a_handler_hands_to_a_thread_pool_count_for_that_function():
    """The trace repository reads page objects with concurrent ranged GETs (each in a copy of the handler's
    context): those calls belong to the function that made them, not to the API."""
    recorder = Recorder()
    usage = recorder.start("test")
    model = SimpleNamespace(service_model=SimpleNamespace(service_name="s3"), name="GetObject")

    def handler(event, context):
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(contextvars.copy_context().run, recorder.before_call, model, {}, {})
                       for _ in range(3)]
        assert [f.result() for f in futures] == [None] * 3

    recorder.wrap_handlers({"execute_chunk": handler})["execute_chunk"]({}, None)
    assert usage.calls[("execute_chunk", "s3", "GetObject")] == 3 and recorder.function == "api"


def test_an_invoked_functions_request_is_measured_at_the_invoke_not_encoded_again():
    """The sandbox's ~2 MB request is measured once, at the product's Invoke; its handler's wrapper measures
    only the answer. A function Step Functions invokes (no Invoke seen) has its event measured by the wrapper."""
    recorder = Recorder()
    usage = recorder.start("test")
    model = SimpleNamespace(service_model=SimpleNamespace(service_name="lambda"), name="Invoke")
    encoded: list[Any] = []

    class Event(dict):  # what json.dumps would encode
        def items(self):
            encoded.append(self)
            return super().items()

    body = json.dumps({"trace_lines": ["x" * 1000]})
    recorder.before_call(model, {"url_path": "/2015-03-31/functions/iofold-local-sandbox/invocations",
                                 "body": body}, {})
    handlers = recorder.wrap_handlers({"sandbox": lambda event, context: {"results": []},
                                       "execute_chunk": lambda event, context: {"chunk": 0}})
    handlers["sandbox"](Event(trace_lines=["x" * 1000]), None)
    assert encoded == [] and usage.largest_lambda_payload == len(body)
    handlers["execute_chunk"](Event(chunk=0, padding="y" * 5000), None)
    assert len(encoded) == 1 and usage.largest_lambda_payload > 5000


@pytest.mark.slow
def test_smoke_run_counts_calls_history_and_extrapolates(tmp_path):
    out = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, "-m", "bench.scale", "--smoke", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    executes = [p for p in figures["phases"] if p["name"].startswith("execute")]
    assert [p["traces"] for p in executes] == [50, 200]
    for phase in executes:
        chunks = -(-phase["traces"] // scale.SMOKE_CHUNK_SIZE)
        invocations = phase["lambda_invocations"]
        # two independent counters agree: the botocore hook's Invoke calls and the sandbox handler's runs
        assert phase["calls"]["lambda:Invoke"] == invocations["sandbox"] >= chunks
        assert 1 <= invocations["execute_chunk"] <= chunks
        # results written 25 per BatchWriteItem at most, one item (at least one unit) per trace
        assert phase["calls"]["dynamodb:BatchWriteItem"] >= phase["traces"] / 25
        assert phase["ddb_write_units"] >= phase["traces"]
        (execution,) = [e for e in phase["executions"] if e["machine"] == "execute_eval"]
        # a chunk is one inline map iteration; a distributed map runs one child per chunk or batch of chunks
        if execution["child_executions"]:
            assert 1 <= execution["child_executions"] <= chunks and execution["map_iterations"] == 0
        else:
            assert execution["map_iterations"] == chunks
        assert execution["events"] > 10 and execution["largest_payload"] > 0
    execute = figures["kinds"]["execute"]
    small, large = (e for p in executes for e in p["executions"] if e["machine"] == "execute_eval")
    slope = (large["events"] - small["events"]) / 150
    assert execute["events_line"][1] == pytest.approx(max(slope, 0.0))
    assert execute["events_at_target"] == pytest.approx(execute["events_line"][0] + execute["events_line"][1] * 1e6)
    assert execute["calls_per_trace"] > 0 and sum(execute["cost_at_target"].values()) > 0
    imports = [p for p in figures["phases"] if p["name"].startswith("import")]
    assert all(p["calls"]["dynamodb:BatchWriteItem"] >= p["traces"] / 25 for p in imports)
    # a file upload is ONE presigned PUT and ONE import job whatever its size: one execution; a plain
    # NDJSON file needs no preparing, so the job starts at its first page and its last call finishes it
    files = [p for p in figures["phases"] if p["name"].startswith("file upload")]
    assert [p["traces"] for p in files] == [50, 200]
    for phase in files:
        (execution,) = phase["executions"]
        assert execution["machine"] == "import_traces" and execution["transitions"] == 3
        assert set(phase["lambda_invocations"]) == {"import_page"}
        assert phase["ddb_write_units"] >= phase["traces"]
    assert sum(figures["kinds"]["file upload"]["cost_at_target"].values()) > 0
