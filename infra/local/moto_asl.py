"""moto's ASL interpreter as AWS runs it: a Distributed Map writes its results to S3 and tolerates
failures only up to ``ToleratedFailurePercentage``; a ``states:startExecution`` task starts an
execution (an import continuing as new).

moto 5.2.5 (a port of LocalStack's interpreter) runs a ``DISTRIBUTED`` Map with an S3 ``ItemReader``
(JSON or CSV) against its own S3, but:

- its ``ResultWriter`` writes a manifest listing no result files (``# TODO: generate result files``),
  so a step that reads the map's results from S3, as on AWS, finds none;
- a failed child is dropped silently (its output becomes ``null``) whatever the tolerance, where AWS
  fails the Map with ``States.ExceedToleratedFailureThreshold`` once failures pass the threshold.

Four patches, wrapping or replacing moto's own code:
- the distributed item worker's ``_eval_job`` and ``_eval_input`` record every child's input (after
  ``ItemSelector``), status, output or error and cause on the map run;
- the distributed iteration's ``_map_run`` then fails the map run when failures exceed the tolerance
  (failed children over total above ``ToleratedFailurePercentage`` and more than
  ``ToleratedFailureCount``; AWS fails on either threshold when both are set: set one);
- the ``ResultWriter`` evaluates its ``Parameters`` against the Map state's input (moto used the list of
  the children's outputs, so ``"Bucket.$": "$.results.Bucket"`` failed), and its ``s3:putObject`` writes
  ``SUCCEEDED_0.json`` / ``FAILED_0.json`` (arrays of child execution records: ``Input``/``Output`` as JSON strings, ``Error``/``Cause`` when failed)
  and a ``manifest.json`` listing them, in AWS's layout ``<Prefix>/<map run id>/``.

And ``states:startExecution`` (also ``.sync``): moto's port of the interpreter stubs out the step that
turns a task's ASL parameters into the SDK's (``StateMachineArn`` → ``stateMachineArn``) and the SDK's
response into ASL's (``executionArn`` → ``ExecutionArn``), so every such task failed with
``States.Runtime: 'StateMachineArn'``. The Step Functions service task gets both conversions back,
by the botocore model of the operation.

moto is pinned (requirements-dev.txt); tests/local/test_moto_asl.py is the canary: it pins the source
of every wrapped function and runs a distributed map against moto's S3.
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from typing import Any

from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent, FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import ResultWriter
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramError, ProgramStopped, ProgramTimedOut

# (owner, attribute) of every moto function replaced here; the canary pins their source.
PATCHED = (
    (DistributedItemProcessorWorker, "_eval_job"),
    (DistributedItemProcessorWorker, "_eval_input"),
    (DistributedIterationComponent, "_map_run"),
    (ResourceEvalS3, "_handle_put_object"),
    (ResultWriter, "_eval_body"),
    (StateTaskServiceSfn, "_normalise_parameters"),
    (StateTaskServiceSfn, "_normalise_response"),
)
_ORIGINAL: dict[str, Any] = {}
_LOCK = threading.Lock()
_SELECTED = threading.local()  # the input of the child running on this worker thread, after ItemSelector


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def _records(map_run_record: Any) -> list[dict]:
    with _LOCK:
        if not hasattr(map_run_record, "iofold_children"):
            map_run_record.iofold_children = []
        return map_run_record.iofold_children


def _eval_input(self: Any, env_frame: Any) -> None:
    _ORIGINAL["_eval_input"][1](self, env_frame)
    _SELECTED.value = env_frame.states.get_input()


def _eval_job(self: Any, env: Any, job: Any) -> None:
    _SELECTED.value = job.job_input
    started = _now()
    _ORIGINAL["_eval_job"][1](self, env, job)
    state = env.program_state()
    record: dict[str, Any] = {"index": job.job_index, "input": _SELECTED.value, "start": started, "stop": _now()}
    if isinstance(state, ProgramEnded):
        record.update(status="SUCCEEDED", output=job.job_output)
    elif isinstance(state, ProgramStopped):
        record.update(status="ABORTED", error=state.error, cause=state.cause)
    elif isinstance(state, ProgramTimedOut):
        record.update(status="TIMED_OUT", error="States.Timeout", cause=None)
    else:
        details = state.error if isinstance(state, ProgramError) and state.error else {}
        record.update(status="FAILED", error=details.get("error"), cause=details.get("cause"))
    records = _records(self._map_run_record)
    with _LOCK:
        records.append(record)


def _map_run(self: Any, env: Any, eval_input: Any) -> None:
    _ORIGINAL["_map_run"][1](self, env, eval_input)
    children = _records(eval_input.map_run_record)
    failed = sum(c["status"] != "SUCCEEDED" for c in children)
    if not failed:
        return
    percentage = 100.0 * failed / len(children)
    if percentage > eval_input.tolerated_failure_percentage and failed > eval_input.tolerated_failure_count:
        error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
        cause = (f"The specified tolerated failure threshold was exceeded: {failed} of {len(children)} child "
                 f"executions failed ({percentage:.1f}%)")
        raise FailureEventException(FailureEvent(
            env=env, error_name=error, event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(mapRunFailedEventDetails=MapRunFailedEventDetails(
                error=error.error_name, cause=cause))))


def _child(record: dict, map_run_arn: str, state_machine_arn: str) -> dict:
    name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{map_run_arn}/{record['index']}"))
    out: dict[str, Any] = {
        "ExecutionArn": map_run_arn.replace(":mapRun:", ":execution:", 1) + ":" + name,
        "Input": json.dumps(record["input"]), "InputDetails": {"Included": True}, "Name": name,
        "StartDate": record["start"], "StateMachineArn": state_machine_arn, "Status": record["status"],
        "StopDate": record["stop"], "RedriveCount": 0, "RedriveStatus": "NOT_REDRIVABLE",
    }
    if record["status"] == "SUCCEEDED":
        out.update(Output=json.dumps(record["output"]), OutputDetails={"Included": True})
    else:
        out.update({k: v for k, v in (("Error", record.get("error")), ("Cause", record.get("cause"))) if v})
    return out


def _handle_put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """The ResultWriter: result files per status and the manifest naming them, then the Map's output."""
    parameters = env.stack.pop()
    env.stack.pop()  # the Map state's input, pushed by _writer_eval_body
    s3 = ResourceEvalS3._get_s3_client(resource_runtime_part=resource_runtime_part,
                                       state_credentials=state_credentials)
    map_run_record = env.map_run_record_pool_manager.get_all().pop()
    map_run_arn = map_run_record.map_run_arn
    bucket, prefix = parameters["Bucket"], parameters.get("Prefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = prefix + map_run_arn.split(":")[-1] + "/"
    children = sorted(_records(map_run_record), key=lambda c: c["index"])
    files: dict[str, list[dict]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, wanted in (("SUCCEEDED", {"SUCCEEDED"}), ("FAILED", {"FAILED", "TIMED_OUT", "ABORTED"})):
        chosen = [_child(c, map_run_arn, map_run_record.map_state_machine_arn) for c in children
                  if c["status"] in wanted]
        if chosen:
            body = json.dumps(chosen).encode()
            key = f"{folder}{status}_0.json"
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": files}
    key = folder + "manifest.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
    env.stack.append({"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}})


def _writer_eval_body(self: Any, env: Any) -> None:
    """The ResultWriter's Parameters (``Bucket.$``, ``Prefix.$``) read the Map state's input, as on AWS
    (moto evaluated them against the list of the children's outputs)."""
    env.stack.pop()  # the children's outputs, also in the map run's records
    env.stack.append(env.states.get_input())
    self.parargs.eval(env=env)
    self.resource_eval.eval_resource(env=env)


def _sfn_members(task: Any) -> dict[str, str]:
    """The operation's input member names by lower-case name (``statemachinearn`` → ``stateMachineArn``)."""
    import botocore.session

    action = task.resource.api_action
    model = botocore.session.get_session().get_service_model("stepfunctions")
    operation = model.operation_model(action[0].upper() + action[1:])
    return {name.lower(): name for name in operation.input_shape.members}


def _sfn_normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                              service_action_name: str | None = None) -> None:
    _ORIGINAL["_normalise_parameters"][1](self, parameters, boto_service_name, service_action_name)
    if service_action_name is None:  # the task's own call (moto's sync resolvers pass their own)
        members = _sfn_members(self)
        for key in list(parameters):
            if key.lower() in members and members[key.lower()] != key:
                parameters[members[key.lower()]] = parameters.pop(key)


def _sfn_normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                            service_action_name: str | None = None) -> None:
    _ORIGINAL["_normalise_response"][1](self, response, boto_service_name, service_action_name)
    if isinstance(response, dict):
        for key in [k for k in response if k[:1].islower()]:
            response[key[0].upper() + key[1:]] = response.pop(key)


_PATCHES = {"_eval_job": _eval_job, "_eval_input": _eval_input, "_map_run": _map_run,
            "_handle_put_object": staticmethod(_handle_put_object), "_eval_body": _writer_eval_body,
            "_normalise_parameters": _sfn_normalise_parameters, "_normalise_response": _sfn_normalise_response}


def install() -> None:
    """Patch moto in this process (idempotent)."""
    if _ORIGINAL:
        return
    for owner, name in PATCHED:
        _ORIGINAL[name] = (name in owner.__dict__, owner.__dict__.get(name) or getattr(owner, name))
        setattr(owner, name, _PATCHES[name])


def uninstall() -> None:
    """Put moto back as it was."""
    for owner, name in PATCHED:
        if name in _ORIGINAL:
            own, original = _ORIGINAL[name]
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
    _ORIGINAL.clear()


def installed() -> bool:
    return bool(_ORIGINAL)
