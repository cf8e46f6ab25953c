"""iofold's HTTP API and Step Functions task functions. Routes are thin: parse, call one
service function with its dependencies, return the model (chalicelib/web.py does the rest)."""

from __future__ import annotations

from chalice import Chalice, CORSConfig, Response

from chalicelib import handlers, wiring
from chalicelib.observability import observed
from chalicelib.auth import service as auth
from chalicelib.auth.models import (
    ApiKey, CreateApiKeyRequest, CreatedApiKey, CreatedWorkspace, CreateWorkspaceRequest, WorkspaceInfo,
)
from chalicelib.config import get_settings
from chalicelib.errors import ValidationError
from chalicelib.evals import export as eval_export
from chalicelib.evals import refinement, trends, versions
from chalicelib.evals import service as evals
from chalicelib.evals.models import (
    EvalVersion, ExecuteRequest, Execution, ExecutionDetail, GenerateRequest, RefineRequest, SavedVersion,
    SaveVersionRequest, Trend, VersionDiff,
)
from chalicelib.evalsets import service as eval_sets
from chalicelib.generation import workspace_llm
from chalicelib.evalsets.models import (
    CreateEvalSetRequest, EvalSet, EvalSetDetail, Feedback, RateRequest, ReviewItem, UpdateEvalSetRequest,
)
from chalicelib.integrations import service as integrations
from chalicelib.integrations.models import CreateIntegrationRequest, Integration, TestResult
from chalicelib.jobs import service as jobs
from chalicelib.jobs.models import Job, JobAccepted, JobEvent, JobFailure
from chalicelib.matrix import service as matrix
from chalicelib.matrix.models import Matrix
from chalicelib.otlp import receiver as otlp
from chalicelib.schedules import service as schedules
from chalicelib.schedules.models import ScheduleRequest
from chalicelib.paging import Page
from chalicelib.storage import parse_limit
from chalicelib.traces import service as traces
from chalicelib.traces.summary import TraceSummary
from chalicelib.web import Api, Request

app = Chalice(app_name="iofold")
# gzipped upload bodies and OTLP/HTTP protobuf bodies arrive intact
app.api.binary_types += ["application/x-ndjson", "application/gzip", "application/x-protobuf", "application/protobuf"]
app.api.cors = CORSConfig(allow_origin="*", allow_headers=["Authorization", "Content-Type"], max_age=600,
                          expose_headers=["Content-Disposition", "X-Next-Cursor", "X-Request-Id"])
api = Api(app)

LIST_QUERY = {"limit": "integer", "cursor": "string"}


def _accepted(job: Job) -> JobAccepted:
    return JobAccepted(job_id=job.id)


# --- meta ------------------------------------------------------------------------------

@api.route("/v1/health", "GET", role=None, summary="liveness")
def health(req: Request) -> dict:
    return {"status": "ok", "version": get_settings().version}


@api.route("/v1/openapi.json", "GET", role=None, summary="this document")
def openapi(req: Request) -> dict:
    return api.openapi(get_settings().version)


# --- workspaces and keys ----------------------------------------------------------------

@api.route("/v1/workspaces", "POST", role=None, body=CreateWorkspaceRequest, response=CreatedWorkspace, status=201)
def create_workspace(req: Request) -> CreatedWorkspace:
    if not get_settings().allow_signup:
        caller = auth.authenticate(req.headers.get("authorization"), repo=wiring.auth_repo())
        auth.require(caller, "owner")
    return auth.create_workspace(req.body, repo=wiring.auth_repo())


@api.route("/v1/workspace", "GET", role="viewer", response=WorkspaceInfo)
def get_workspace(req: Request) -> WorkspaceInfo:
    return auth.describe_workspace(req.caller, repo=wiring.auth_repo())


@api.route("/v1/workspace/llm", "PUT", role="admin", body=workspace_llm.LlmSettingsRequest,
           response=workspace_llm.LlmSettings)
def put_workspace_llm(req: Request) -> workspace_llm.LlmSettings:
    return workspace_llm.put_llm_settings(req.caller, req.body, repo=wiring.llm_settings_repo(),
                                          keyring=wiring.keyring(), allow_private=get_settings().allow_private_sources)


@api.route("/v1/workspace/llm", "GET", role="viewer", response=workspace_llm.LlmSettings)
def get_workspace_llm(req: Request) -> workspace_llm.LlmSettings:
    return workspace_llm.get_llm_settings(req.caller, repo=wiring.llm_settings_repo())


@api.route("/v1/workspace/llm", "DELETE", role="admin", status=204)
def delete_workspace_llm(req: Request) -> None:
    workspace_llm.delete_llm_settings(req.caller, repo=wiring.llm_settings_repo())


@api.route("/v1/api-keys", "POST", role="admin", body=CreateApiKeyRequest, response=CreatedApiKey, status=201)
def create_api_key(req: Request) -> CreatedApiKey:
    return auth.create_api_key(req.caller, req.body, repo=wiring.auth_repo())


@api.route("/v1/api-keys", "GET", role="admin")
def list_api_keys(req: Request) -> dict:
    keys = auth.list_api_keys(req.caller, repo=wiring.auth_repo())
    return Page[ApiKey](items=keys).model_dump(mode="json")


@api.route("/v1/api-keys/{key_id}", "DELETE", role="admin", status=204)
def delete_api_key(req: Request, key_id: str) -> None:
    auth.delete_api_key(req.caller, key_id, repo=wiring.auth_repo())


# --- integrations -----------------------------------------------------------------------

@api.route("/v1/integrations", "POST", role="admin", body=CreateIntegrationRequest, response=Integration, status=201)
def create_integration(req: Request) -> Integration:
    return integrations.create_integration(req.caller, req.body, repo=wiring.integration_repo(),
                                           keyring=wiring.keyring(), check_url=wiring.source_url_check())


@api.route("/v1/integrations", "GET", role="viewer", query=LIST_QUERY)
def list_integrations(req: Request) -> Page[Integration]:
    return integrations.list_integrations(req.caller, **req.paging(), repo=wiring.integration_repo())


@api.route("/v1/integrations/{integration_id}", "GET", role="viewer", response=Integration)
def get_integration(req: Request, integration_id: str) -> Integration:
    return wiring.integration_repo().get(req.caller.workspace_id, integration_id)


@api.route("/v1/integrations/{integration_id}", "DELETE", role="admin", status=204)
def delete_integration(req: Request, integration_id: str) -> None:
    wiring.integration_repo().delete(req.caller.workspace_id, integration_id)


@api.route("/v1/integrations/{integration_id}/test", "POST", role="admin", response=TestResult)
def test_integration(req: Request, integration_id: str) -> TestResult:
    from chalicelib.clients import source_http_client

    with source_http_client() as http:
        return integrations.test_integration(req.caller, integration_id, repo=wiring.integration_repo(),
                                             keyring=wiring.keyring(), http=http)


@api.route("/v1/integrations/{integration_id}/schedule", "PUT", role="admin", body=ScheduleRequest,
           response=Integration)
def put_schedule(req: Request, integration_id: str) -> Integration:
    return schedules.put_schedule(req.caller, integration_id, req.body, repo=wiring.integration_repo(),
                                  target=wiring.scheduler_target())


@api.route("/v1/integrations/{integration_id}/schedule", "DELETE", role="admin", status=204)
def delete_schedule(req: Request, integration_id: str) -> None:
    schedules.delete_schedule(req.caller, integration_id, repo=wiring.integration_repo(),
                              target=wiring.scheduler_target())


# --- traces -----------------------------------------------------------------------------

@api.route("/v1/traces/import", "POST", role="member", body=traces.ImportRequest, response=JobAccepted, status=202)
def import_traces(req: Request) -> JobAccepted:
    return _accepted(traces.start_import(req.caller, req.body, integrations=wiring.integration_repo(),
                                         jobs=wiring.job_repo(), sfn=wiring.sfn(),
                                         state_machine_arn=wiring.state_machine_arn("import_traces")))


@api.route("/v1/traces/upload", "POST", role="member", response=JobAccepted, status=202, query={"format": "string"},
           content_types=["application/x-ndjson", "application/json", "text/plain", "application/octet-stream",
                          "application/gzip"])
def upload_traces(req: Request) -> JobAccepted:
    return _accepted(traces.start_upload(req.caller, req.raw_body, req.query.get("format"),
                                         content_encoding=req.headers.get("content-encoding"),
                                         uploads=wiring.upload_store(), jobs=wiring.job_repo(), sfn=wiring.sfn(),
                                         state_machine_arn=wiring.state_machine_arn("import_traces")))


@api.route("/v1/traces/uploads", "POST", role="member", body=traces.CreateUploadRequest,
           response=traces.UploadTicket, status=201, summary="a presigned S3 PUT for a file past the 6 MB limit")
def create_upload(req: Request) -> traces.UploadTicket:
    return traces.create_upload(req.caller, req.body, uploads=wiring.upload_store())


@api.route("/v1/traces/uploads/{upload_id}/import", "POST", role="member", response=JobAccepted, status=202,
           summary="import a file PUT to its presigned URL")
def import_upload(req: Request, upload_id: str) -> JobAccepted:
    return _accepted(traces.import_upload(req.caller, upload_id, uploads=wiring.upload_store(), jobs=wiring.job_repo(),
                                          sfn=wiring.sfn(), state_machine_arn=wiring.state_machine_arn("import_traces")))


@api.route("/v1/traces", "GET", role="viewer", query={**LIST_QUERY, "source": "string", "tag": "string",
                                                       "name": "string", "from": "string", "to": "string",
                                                       "integration_id": "string", "eval_set_id": "string",
                                                       "rated": "boolean"})
def list_traces(req: Request) -> Page[TraceSummary]:
    filters = traces.TraceFilters.model_validate({**{k: v for k, v in req.query.items()
                                                     if k not in ("limit", "cursor", "eval_set_id", "rated")},
                                                  **req.trace_range()})
    limit = parse_limit(req.query.get("limit"))
    filters = filters.model_copy(update=_rated_filters(req))
    return traces.list_traces(req.caller, filters, limit=limit, cursor=req.query.get("cursor"),
                              traces=wiring.trace_repo())


@api.route("/v1/traces/{trace_id}", "GET", role="viewer")
def get_trace(req: Request, trace_id: str) -> dict:
    return traces.get_trace(req.caller, trace_id, traces=wiring.trace_repo())


@api.route("/v1/traces/{trace_id}", "DELETE", role="member", status=204)
def delete_trace(req: Request, trace_id: str) -> None:
    traces.delete_trace(req.caller, trace_id, traces=wiring.trace_repo())


@api.route("/v1/otlp/v1/traces", "POST", role="member", summary="OTLP/HTTP trace export (protobuf or JSON)",
           content_types=[otlp.PROTOBUF, "application/protobuf", otlp.JSON])
def otlp_traces(req: Request) -> Response:
    kind = otlp.media_type(req.headers.get("content-type"))
    doc = otlp.decode_export_request(req.raw_body, kind, req.headers.get("content-encoding"),
                                     max_bytes=get_settings().max_body_bytes)
    body, content_type = otlp.export_response(otlp.receive_export(req.caller.workspace_id, doc,
                                                                  spans=wiring.span_store()), kind)
    return Response(body=body, status_code=200, headers={"Content-Type": content_type})


# --- jobs -------------------------------------------------------------------------------

@api.route("/v1/jobs", "GET", role="viewer", query=LIST_QUERY)
def list_jobs(req: Request) -> Page[Job]:
    return jobs.list_jobs(req.caller, **req.paging(), jobs=wiring.job_repo())


@api.route("/v1/jobs/{job_id}", "GET", role="viewer", response=Job)
def get_job(req: Request, job_id: str) -> Job:
    return jobs.get_job(req.caller, job_id, jobs=wiring.job_repo(), sfn=wiring.sfn(), traces=wiring.trace_repo())


@api.route("/v1/jobs/{job_id}/events", "GET", role="viewer", query={"after": "integer", "limit": "integer"})
def list_job_events(req: Request, job_id: str) -> Page[JobEvent]:
    try:
        after = int(req.query.get("after") or 0)
    except ValueError as exc:
        raise ValidationError("after must be an integer") from exc
    return jobs.list_events(req.caller, job_id, after=after, limit=parse_limit(req.query.get("limit") or 200),
                            jobs=wiring.job_repo())


@api.route("/v1/jobs/{job_id}/failures", "GET", role="viewer", query=LIST_QUERY,
           summary="every failure of a job, in order (the job itself carries the first few)")
def list_job_failures(req: Request, job_id: str) -> Page[JobFailure]:
    return jobs.list_failures(req.caller, job_id, **req.paging(), jobs=wiring.job_repo(), files=wiring.job_files())


@api.route("/v1/jobs/{job_id}/cancel", "POST", role="member", response=Job)
def cancel_job(req: Request, job_id: str) -> Job:
    return jobs.cancel_job(req.caller, job_id, jobs=wiring.job_repo(), sfn=wiring.sfn())


# --- evals: generation, versions, execution -----------------------------------------------

@api.route("/v1/eval-sets/{eval_set_id}/generate", "POST", role="member", body=GenerateRequest, response=JobAccepted,
           status=202)
def generate_eval(req: Request, eval_set_id: str) -> JobAccepted:
    return _accepted(evals.start_generation(
        req.caller, eval_set_id, req.body, eval_sets=wiring.eval_set_ratings(), jobs=wiring.job_repo(),
        sfn=wiring.sfn(), state_machine_arn=wiring.state_machine_arn("generate_eval")))


@api.route("/v1/evals", "GET", role="viewer", query={**LIST_QUERY, "eval_set_id": "string",
                                                      "include_rejected": "boolean"})
def list_evals(req: Request) -> Page[EvalVersion]:
    if not req.query.get("eval_set_id"):
        raise ValidationError("eval_set_id is required", [{"field": "eval_set_id"}])
    return evals.list_versions(req.caller, req.query["eval_set_id"], **req.paging(), eval_sets=wiring.eval_set_ratings(),
                               evals=wiring.eval_repo(), include_rejected=req.flag("include_rejected"))


@api.route("/v1/evals/{eval_id}", "GET", role="viewer", response=EvalVersion)
def get_eval(req: Request, eval_id: str) -> EvalVersion:
    return wiring.eval_repo().get(req.caller.workspace_id, eval_id)


@api.route("/v1/evals/{eval_id}/execute", "POST", role="member", body=ExecuteRequest, response=JobAccepted,
           status=202)
def execute_eval(req: Request, eval_id: str) -> JobAccepted:
    return _accepted(evals.start_execution(req.caller, eval_id, req.body, evals=wiring.eval_repo(),
                                           traces=wiring.trace_repo(), jobs=wiring.job_repo(), sfn=wiring.sfn(),
                                           state_machine_arn=wiring.state_machine_arn("execute_eval"),
                                           files=wiring.job_files()))


@api.route("/v1/evals/{eval_id}/executions", "GET", role="viewer", query=LIST_QUERY)
def list_executions(req: Request, eval_id: str) -> Page[Execution]:
    return evals.list_executions(req.caller, eval_id, **req.paging(), evals=wiring.eval_repo())


@api.route("/v1/evals/{eval_id}/trend", "GET", role="viewer", response=Trend,
           query={"bucket": "string", "from": "string", "to": "string"},
           summary="pass rate and result counts per hour or day over the version's runs (stored counters)")
def eval_trend(req: Request, eval_id: str) -> Trend:
    return trends.eval_trend(req.caller.workspace_id, eval_id, req.query, evals=wiring.eval_repo())


# --- eval sets, feedback, review queue --------------------------------------------------


def _rated_filters(req: Request) -> dict:
    """GET /v1/traces ?eval_set_id=&rated=true|false → TraceFilters fields (404 for another workspace's set)."""
    eval_set_id, rated = req.query.get("eval_set_id"), req.query.get("rated")
    if rated is not None and rated not in ("true", "false"):
        raise ValidationError("rated must be true or false", [{"field": "rated", "value": rated}])
    if rated is not None and not eval_set_id:
        raise ValidationError("rated needs eval_set_id", [{"field": "eval_set_id"}])
    if not eval_set_id:
        return {}
    rated_ids = eval_sets.rated_trace_ids(req.caller, eval_set_id, eval_sets=wiring.eval_set_repo())
    return {"rated_ids": rated_ids, "rated": None if rated is None else rated == "true"}


@api.route("/v1/eval-sets", "POST", role="member", body=CreateEvalSetRequest, response=EvalSetDetail, status=201)
def create_eval_set(req: Request) -> EvalSetDetail:
    return eval_sets.create_eval_set(req.caller, req.body, eval_sets=wiring.eval_set_repo())


@api.route("/v1/eval-sets", "GET", role="viewer", query=LIST_QUERY)
def list_eval_sets(req: Request) -> Page[EvalSet]:
    return eval_sets.list_eval_sets(req.caller, **req.paging(), eval_sets=wiring.eval_set_repo())


@api.route("/v1/eval-sets/{eval_set_id}", "GET", role="viewer", response=EvalSetDetail)
def get_eval_set(req: Request, eval_set_id: str) -> EvalSetDetail:
    return eval_sets.get_eval_set(req.caller, eval_set_id, eval_sets=wiring.eval_set_repo())


@api.route("/v1/eval-sets/{eval_set_id}", "PATCH", role="member", body=UpdateEvalSetRequest, response=EvalSetDetail)
def update_eval_set(req: Request, eval_set_id: str) -> EvalSetDetail:
    return eval_sets.update_eval_set(req.caller, eval_set_id, req.body, eval_sets=wiring.eval_set_repo())


@api.route("/v1/eval-sets/{eval_set_id}", "DELETE", role="member", status=204)
def delete_eval_set(req: Request, eval_set_id: str) -> None:
    eval_sets.delete_eval_set(req.caller, eval_set_id, eval_sets=wiring.eval_set_repo(), contents=wiring.eval_repo(),
                              deleted_sets=wiring.deleted_sets())


@api.route("/v1/eval-sets/{eval_set_id}/feedback/{trace_id}", "PUT", role="member", body=RateRequest,
           response=Feedback)
def rate_trace(req: Request, eval_set_id: str, trace_id: str) -> Feedback:
    return eval_sets.rate_trace(req.caller, eval_set_id, trace_id, req.body, eval_sets=wiring.eval_set_repo(),
                                traces=wiring.trace_repo())


@api.route("/v1/eval-sets/{eval_set_id}/feedback", "GET", role="viewer", query=LIST_QUERY)
def list_feedback(req: Request, eval_set_id: str) -> Page[Feedback]:
    return eval_sets.list_feedback(req.caller, eval_set_id, **req.paging(), eval_sets=wiring.eval_set_repo())


@api.route("/v1/eval-sets/{eval_set_id}/feedback/{trace_id}", "DELETE", role="member", status=204)
def delete_feedback(req: Request, eval_set_id: str, trace_id: str) -> None:
    eval_sets.delete_feedback(req.caller, eval_set_id, trace_id, eval_sets=wiring.eval_set_repo())


@api.route("/v1/eval-sets/{eval_set_id}/review-queue", "GET", role="viewer", query={"limit": "integer"})
def review_queue(req: Request, eval_set_id: str) -> Page[ReviewItem]:
    from chalicelib.evals.review import EngineReviewPrioritizer

    return eval_sets.review_queue(req.caller, eval_set_id, limit=parse_limit(req.query.get("limit")),
                                  eval_sets=wiring.eval_set_repo(), traces=wiring.trace_repo(),
                                  prioritizer=EngineReviewPrioritizer(wiring.eval_repo()))


# --- matrix, versions, refine, export -----------------------------------------------------


MATRIX_QUERY = {**LIST_QUERY, "eval_ids": "string", "filter": "string", "rating": "string", "from": "string",
                "to": "string", "source": "string", "stats": "string"}


@api.route("/v1/eval-sets/{eval_set_id}/matrix", "GET", role="viewer", response=Matrix, query=MATRIX_QUERY)
def get_matrix(req: Request, eval_set_id: str) -> Matrix:
    return matrix.build_matrix(req.caller, eval_set_id, matrix.parse_matrix_query(req.query),
                               eval_sets=wiring.eval_set_repo(), evals=wiring.eval_repo(), traces=wiring.trace_repo())


@api.route("/v1/eval-sets/{eval_set_id}/matrix.csv", "GET", role="viewer", query=MATRIX_QUERY, raw_response="text/csv")
def get_matrix_csv(req: Request, eval_set_id: str) -> Response:
    text, rest = matrix.matrix_csv(req.caller, eval_set_id, matrix.parse_matrix_query(req.query),
                                   eval_sets=wiring.eval_set_repo(), evals=wiring.eval_repo(), traces=wiring.trace_repo())
    headers = {"Content-Type": "text/csv", "Content-Disposition": f'attachment; filename="{eval_set_id}-matrix.csv"'}
    return Response(body=text, status_code=200, headers={**headers, **({"X-Next-Cursor": rest} if rest else {})})


@api.route("/v1/executions/{eval_id}/{trace_id}", "GET", role="viewer", response=ExecutionDetail)
def get_execution(req: Request, eval_id: str, trace_id: str) -> ExecutionDetail:
    return versions.execution_detail(req.caller, eval_id, trace_id, evals=wiring.eval_repo(),
                                     eval_sets=wiring.eval_set_repo(), traces=wiring.trace_repo())


@api.route("/v1/evals/{eval_id}/versions", "POST", role="member", body=SaveVersionRequest, response=SavedVersion,
           status=201)
def save_eval_version(req: Request, eval_id: str) -> SavedVersion:
    return versions.save_version(req.caller, eval_id, req.body, evals=wiring.eval_repo(),
                                 eval_sets=wiring.eval_set_repo(), jobs=wiring.job_repo(), sfn=wiring.sfn(),
                                 state_machine_arn=wiring.state_machine_arn("execute_eval"))


@api.route("/v1/evals/{eval_id}/activate", "POST", role="member", response=EvalVersion, query={"force": "boolean"})
def activate_eval(req: Request, eval_id: str) -> EvalVersion:
    return versions.activate_version(req.caller, eval_id, evals=wiring.eval_repo(), force=req.flag("force"))


@api.route("/v1/evals/{eval_id}/archive", "POST", role="member", response=EvalVersion)
def archive_eval(req: Request, eval_id: str) -> EvalVersion:
    return versions.archive_version(req.caller, eval_id, evals=wiring.eval_repo())


@api.route("/v1/evals/{eval_id}/diff", "GET", role="viewer", response=VersionDiff, query={"against": "string"})
def diff_evals(req: Request, eval_id: str) -> VersionDiff:
    return versions.diff_versions(req.caller, eval_id, req.query.get("against"), evals=wiring.eval_repo(),
                                  eval_sets=wiring.eval_set_repo())


@api.route("/v1/evals/{eval_id}/refine", "POST", role="member", body=RefineRequest, response=JobAccepted, status=202)
def refine_eval(req: Request, eval_id: str) -> JobAccepted:
    return _accepted(refinement.start_refine(
        req.caller, eval_id, req.body, evals=wiring.eval_repo(), eval_sets=wiring.eval_set_repo(),
        jobs=wiring.job_repo(), sfn=wiring.sfn(), state_machine_arn=wiring.state_machine_arn("generate_eval")))


@api.route("/v1/evals/{eval_id}/export", "GET", role="viewer", query={"format": "string"},
           raw_response="text/x-python")
def export_eval(req: Request, eval_id: str) -> Response:
    filename, text = eval_export.export_version(req.caller.workspace_id, eval_id, req.query.get("format"),
                                                evals=wiring.eval_repo(), eval_sets=wiring.eval_set_repo())
    return Response(body=text, status_code=200, headers={
        "Content-Type": "text/x-python", "Content-Disposition": f'attachment; filename="{filename}"'})


# --- Step Functions tasks ---------------------------------------------------------------

@app.lambda_function(name="import_page")
@observed
def import_page(event, context):
    return handlers.import_page(event, context)


@app.lambda_function(name="upload_prepare")
@observed
def upload_prepare(event, context):
    return handlers.upload_prepare(event)


@app.lambda_function(name="job_finish")
@observed
def job_finish(event, context):
    return handlers.job_finish(event)


@app.lambda_function(name="job_fail")
@observed
def job_fail(event, context):
    return handlers.job_fail(event)


@app.lambda_function(name="generate_load")
@observed
def generate_load(event, context):
    return handlers.generate_load(event)


@app.lambda_function(name="generate_candidates")
@observed
def generate_candidates(event, context):
    return handlers.generate_candidates(event)


@app.lambda_function(name="generate_test")
@observed
def generate_test(event, context):
    return handlers.generate_test(event, context)


@app.lambda_function(name="generate_save")
@observed
def generate_save(event, context):
    return handlers.generate_save(event, context)


@app.lambda_function(name="execute_prepare")
@observed
def execute_prepare(event, context):
    return handlers.execute_prepare(event)


@app.lambda_function(name="execute_chunk")
@observed
def execute_chunk(event, context):
    return handlers.execute_chunk(event, context)


@app.lambda_function(name="execute_aggregate")
@observed
def execute_aggregate(event, context):
    return handlers.execute_aggregate(event)


@app.lambda_function(name="sandbox")
@observed
def sandbox(event, context):
    """The sandbox function: runs eval code in a fresh locked-down child, never in this process;
    {"action": "probe"} reports the layers a child applied (IOFOLD_SANDBOX_PROFILE, _REQUIRE)."""
    from chalicelib.sandbox.tasks import run_sandbox

    return run_sandbox(event, context=context)


@app.lambda_function(name="scheduled_import")
@observed
def scheduled_import(event, context):
    return handlers.scheduled_import(event)


@app.lambda_function(name="otlp_assemble")
@observed
def otlp_assemble(event, context):
    return handlers.otlp_assemble(event)


@app.lambda_function(name="evalset_cleanup")
@observed
def evalset_cleanup(event, context):
    return handlers.evalset_cleanup(event)
