"""The iofold API from Python: one method per endpoint, typed with the API's own pydantic models.

    with Client() as iofold:                       # URL and key as iofold.config resolves them
        job = iofold.upload("traces.jsonl.gz", format="langfuse")
        iofold.wait(job, on_progress=lambda job, events: print(job.progress))
        for trace in iofold.traces(source="upload"):  # every page, lazily
            ...

Lists are iterators over all pages (cursor paging); long work returns a ``JobAccepted`` to
``wait`` on. Errors raise ``iofold.errors`` exceptions mapped from the API's error codes;
429 and 502/503/504 (and 500 or a dropped connection on idempotent methods) are retried,
honouring ``Retry-After``. Pass ``transport=httpx.MockTransport(handler)`` to fake the API.
"""

from __future__ import annotations

import email.utils
import gzip
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel

from chalicelib.auth.models import ApiKey, CreateApiKeyRequest, CreatedApiKey, CreatedWorkspace, WorkspaceInfo
from chalicelib.evals.models import (
    EvalVersion, ExecuteRequest, Execution, ExecutionDetail, GenerateRequest, RefineRequest, SavedVersion, Trend,
    VersionDiff,
)
from chalicelib.generation.workspace_llm import LlmSettings, LlmSettingsRequest
from chalicelib.evalsets.models import (
    CreateEvalSetRequest, EvalSet, EvalSetDetail, Feedback, RateRequest, ReviewItem, UpdateEvalSetRequest,
)
from chalicelib.integrations.models import CreateIntegrationRequest, Integration, TestResult
from chalicelib.jobs.models import FINAL_STATUSES, Job, JobAccepted, JobEvent, JobFailure
from chalicelib.matrix.models import Matrix, MatrixRow
from chalicelib.paging import Page
from chalicelib.schedules.models import ScheduleRequest
from chalicelib.sources.models import ImportFilters
from chalicelib.traces.models import CreateUploadRequest, ImportRequest, UnifiedTrace, UploadFormat, UploadTicket
from chalicelib.traces.summary import TraceSummary
from iofold import config
from iofold.errors import ConnectionFailed, JobFailed, error_from_response

M = TypeVar("M", bound=BaseModel)
JobRef = str | JobAccepted | Job
ProgressCallback = Callable[[Job, list[JobEvent]], None]

GZIP_MAGIC = b"\x1f\x8b"
PRESIGN_OVER = 5 * 1024 * 1024  # API Gateway takes 6 MB bodies; larger (gzipped) files go straight to S3
RETRY_STATUSES = {429, 502, 503, 504}
IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
PAGE_SIZE = 200


def _job_id(job: JobRef) -> str:
    return job if isinstance(job, str) else job.job_id if isinstance(job, JobAccepted) else job.id


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value.strip() else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def _request_model(model: type[M], **fields: Any) -> M:
    """A request model as given, unvalidated: the API validates it and answers a ValidationError with details."""
    return model.model_construct(**fields)


def _body(model: BaseModel) -> dict:
    return model.model_dump(mode="json", exclude_unset=True, warnings=False)


class Client:
    """A signed-in caller of one iofold API (sync)."""

    def __init__(self, api_url: str | None = None, api_key: str | None = None, *,
                 transport: httpx.BaseTransport | None = None, timeout: float = 60.0, max_retries: int = 4,
                 backoff_s: float = 0.5, max_wait_s: float = 60.0, presign_over: int = PRESIGN_OVER,
                 sleep: Callable[[float], None] = time.sleep):
        if not (api_url and api_key):
            settings = config.resolve(api_url, api_key)
            api_url, api_key = settings.api_url, settings.api_key
        self.api_url = api_url.rstrip("/")
        self.max_retries, self.backoff_s, self.max_wait_s = max_retries, backoff_s, max_wait_s
        self.presign_over = presign_over
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.api_url, transport=transport, timeout=timeout,
                                  headers={"Authorization": f"Bearer {api_key}", "User-Agent": "iofold-python"})
        # presigned S3 URLs carry their own signature: no bearer key goes there
        self._bare = httpx.Client(transport=transport, timeout=timeout)

    def close(self) -> None:
        self._http.close()
        self._bare.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------

    def _send(self, http: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
        """One request with retries; raises the mapped ApiError for an error answer."""
        attempt = 0
        while True:
            if hasattr(kw.get("content"), "seek"):
                kw["content"].seek(0)
            try:
                response = http.request(method, url, **kw)
            except httpx.TransportError as exc:
                # a refused connection never reached the server: safe to retry any method
                retryable = method in IDEMPOTENT or isinstance(exc, httpx.ConnectError)
                if not retryable or attempt >= self.max_retries:
                    raise ConnectionFailed(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
                self._sleep(min(self.backoff_s * 2 ** attempt, self.max_wait_s))
                attempt += 1
                continue
            retryable = response.status_code in RETRY_STATUSES or (response.status_code == 500 and method in IDEMPOTENT)
            if retryable and attempt < self.max_retries:
                wait = _retry_after(response)
                self._sleep(min(self.backoff_s * 2 ** attempt if wait is None else wait, self.max_wait_s))
                attempt += 1
                continue
            if response.status_code >= 400:
                try:
                    body: Any = response.json()
                except ValueError:
                    body = response.text
                raise error_from_response(response.status_code, body)
            return response

    def _request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                 **kw: Any) -> httpx.Response:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        return self._send(self._http, method, self._path(path), params=params or None, json=json, **kw)

    def _path(self, path: str) -> str:
        """A path under the API URL; accepts the API's own absolute paths (``/v1/…``) too."""
        prefix = urlsplit(self.api_url).path.rstrip("/")
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix):]
        return path

    def _get(self, model: type[M], path: str, **params: Any) -> M:
        return model.model_validate(self._request("GET", path, params=params).json())

    def _call(self, model: type[M], method: str, path: str, body: BaseModel | dict | None = None) -> M:
        payload = _body(body) if isinstance(body, BaseModel) else body
        return model.model_validate(self._request(method, path, json=payload).json())

    def paginate(self, model: type[M], path: str, *, page_size: int = PAGE_SIZE, **params: Any) -> Iterator[M]:
        """Every item of a paged list, fetching pages as the iteration reaches them."""
        cursor = None
        while True:
            page = Page[model].model_validate(  # type: ignore[valid-type]
                self._request("GET", path, params={**params, "limit": page_size, "cursor": cursor}).json())
            yield from page.items
            cursor = page.next_cursor
            if not cursor:
                return

    # --- meta, workspace, keys --------------------------------------------------------------

    def health(self) -> dict:
        """``{status, version}``."""
        return self._request("GET", "/health").json()

    def openapi(self) -> dict:
        """The API's OpenAPI document."""
        return self._request("GET", "/openapi.json").json()

    def create_workspace(self, name: str) -> CreatedWorkspace:
        """A new workspace and its owner key (shown once)."""
        return self._call(CreatedWorkspace, "POST", "/workspaces", {"name": name})

    def workspace(self) -> WorkspaceInfo:
        """The caller's workspace and role."""
        return self._get(WorkspaceInfo, "/workspace")

    def create_api_key(self, label: str, role: str = "member") -> CreatedApiKey:
        """A new key of this workspace; ``.key`` is shown once."""
        req = _request_model(CreateApiKeyRequest, label=label, role=role)
        return self._call(CreatedApiKey, "POST", "/api-keys", req)

    def api_keys(self) -> Iterator[ApiKey]:
        """The workspace's keys (never the secrets)."""
        return self.paginate(ApiKey, "/api-keys")

    def delete_api_key(self, key_id: str) -> None:
        self._request("DELETE", f"/api-keys/{key_id}")

    def llm_settings(self) -> LlmSettings:
        """The workspace's LLM for generation (404 when none is set); the key is never returned."""
        return self._get(LlmSettings, "/workspace/llm")

    def put_llm_settings(self, provider: str, model: str, *, base_url: str | None = None,
                         api_key: str | None = None) -> LlmSettings:
        """Use Anthropic or an OpenAI-compatible endpoint (``base_url``) for this workspace's generation."""
        req = _request_model(LlmSettingsRequest, provider=provider, model=model, base_url=base_url, api_key=api_key)
        return self._call(LlmSettings, "PUT", "/workspace/llm", req)

    def delete_llm_settings(self) -> None:
        self._request("DELETE", "/workspace/llm")

    # --- integrations and schedules -------------------------------------------------------

    def create_integration(self, platform: str, name: str, base_url: str, credentials: dict[str, str],
                           **extra: Any) -> Integration:
        """Connect a source (langfuse, langsmith, openai); credentials are never returned."""
        req = _request_model(CreateIntegrationRequest, platform=platform, name=name, base_url=base_url,
                             credentials=credentials, **extra)
        return self._call(Integration, "POST", "/integrations", req)

    def integrations(self) -> Iterator[Integration]:
        return self.paginate(Integration, "/integrations")

    def get_integration(self, integration_id: str) -> Integration:
        return self._get(Integration, f"/integrations/{integration_id}")

    def delete_integration(self, integration_id: str) -> None:
        self._request("DELETE", f"/integrations/{integration_id}")

    def test_integration(self, integration_id: str) -> TestResult:
        """Whether the source answers with the stored credentials."""
        return self._call(TestResult, "POST", f"/integrations/{integration_id}/test")

    def put_schedule(self, integration_id: str, expression: str, *, filters: dict | None = None,
                     run_active_evals: bool = False) -> Integration:
        """Import on ``rate(…)``/``cron(…)``, optionally running every active eval on the new traces."""
        req = _request_model(ScheduleRequest, expression=expression, run_active_evals=run_active_evals,
                             filters=_request_model(ImportFilters, **(filters or {})))
        return self._call(Integration, "PUT", f"/integrations/{integration_id}/schedule", req)

    def delete_schedule(self, integration_id: str) -> None:
        self._request("DELETE", f"/integrations/{integration_id}/schedule")

    # --- traces ---------------------------------------------------------------------------

    def import_traces(self, integration_id: str, **filters: Any) -> JobAccepted:
        """Start importing from an integration (filters as ImportFilters: from_timestamp, tags, limit …)."""
        req = _request_model(ImportRequest, integration_id=integration_id,
                             filters=_request_model(ImportFilters, **filters))
        return self._call(JobAccepted, "POST", "/traces/import", req)

    def upload(self, file: str | Path | bytes, format: UploadFormat = "langfuse", *,
               filename: str | None = None) -> JobAccepted:
        """Upload a JSON Lines file (plain or ``.gz``) of traces; start importing it.

        The file is gzipped on the wire (a gzip file is sent as it is). Up to ``presign_over``
        bytes it goes in the request body; past that, straight to S3 through a presigned PUT.
        """
        with _gzipped(file) as (stream, size):
            name = filename or (Path(file).name if isinstance(file, (str, Path)) else "upload.jsonl.gz")
            if size <= self.presign_over:
                return self._call_upload(stream.read(), format)
            ticket = self._call(UploadTicket, "POST", "/traces/uploads",
                                _request_model(CreateUploadRequest, format=format, filename=name[:255],
                                               content_encoding="gzip"))
            self._send(self._bare, ticket.method, ticket.put_url, content=stream,
                       headers={**ticket.headers, "Content-Length": str(size)})
            return self.import_upload(ticket.upload_id)

    def import_upload(self, upload_id: str) -> JobAccepted:
        """Start importing a file PUT to its presigned URL (a second call returns the same job)."""
        return self._call(JobAccepted, "POST", f"/traces/uploads/{upload_id}/import")

    def _call_upload(self, body: bytes, format: str) -> JobAccepted:
        response = self._request("POST", "/traces/upload", params={"format": format}, content=body,
                                 headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
        return JobAccepted.model_validate(response.json())

    def traces(self, *, source: str | None = None, tag: str | None = None, name: str | None = None,
               integration_id: str | None = None, from_: str | None = None, to: str | None = None,
               eval_set_id: str | None = None, rated: bool | None = None,
               page_size: int = PAGE_SIZE) -> Iterator[TraceSummary]:
        """Trace summaries, newest first, filtered as GET /v1/traces."""
        return self.paginate(TraceSummary, "/traces", page_size=page_size, source=source, tag=tag, name=name,
                             integration_id=integration_id, to=to, eval_set_id=eval_set_id,
                             rated=None if rated is None else str(rated).lower(), **{"from": from_})

    def get_trace(self, trace_id: str) -> UnifiedTrace:
        """The unified trace: exactly what an eval function receives."""
        return self._get(UnifiedTrace, f"/traces/{trace_id}")

    def delete_trace(self, trace_id: str) -> None:
        self._request("DELETE", f"/traces/{trace_id}")

    # --- eval sets, feedback, review --------------------------------------------------------

    def create_eval_set(self, name: str, *, description: str = "", criteria: str = "",
                        **extra: Any) -> EvalSetDetail:
        req = _request_model(CreateEvalSetRequest, name=name, description=description, criteria=criteria, **extra)
        return self._call(EvalSetDetail, "POST", "/eval-sets", req)

    def eval_sets(self) -> Iterator[EvalSet]:
        return self.paginate(EvalSet, "/eval-sets")

    def get_eval_set(self, eval_set_id: str) -> EvalSetDetail:
        """The set with its rating counts, readiness and warnings."""
        return self._get(EvalSetDetail, f"/eval-sets/{eval_set_id}")

    def update_eval_set(self, eval_set_id: str, **fields: Any) -> EvalSetDetail:
        req = _request_model(UpdateEvalSetRequest, **fields)
        return self._call(EvalSetDetail, "PATCH", f"/eval-sets/{eval_set_id}", req)

    def delete_eval_set(self, eval_set_id: str) -> None:
        self._request("DELETE", f"/eval-sets/{eval_set_id}")

    def rate(self, eval_set_id: str, trace_id: str, rating: Literal["positive", "negative", "neutral"],
             notes: str = "") -> Feedback:
        """Rate a trace in a set (upsert; the history is kept)."""
        return self._call(Feedback, "PUT", f"/eval-sets/{eval_set_id}/feedback/{trace_id}",
                          _request_model(RateRequest, rating=rating, notes=notes))

    def feedback(self, eval_set_id: str) -> Iterator[Feedback]:
        return self.paginate(Feedback, f"/eval-sets/{eval_set_id}/feedback")

    def delete_feedback(self, eval_set_id: str, trace_id: str) -> None:
        self._request("DELETE", f"/eval-sets/{eval_set_id}/feedback/{trace_id}")

    def review_queue(self, eval_set_id: str, limit: int = 50) -> list[ReviewItem]:
        """Unrated traces in the order worth rating next."""
        return Page[ReviewItem].model_validate(
            self._request("GET", f"/eval-sets/{eval_set_id}/review-queue", params={"limit": limit}).json()).items

    # --- evals ----------------------------------------------------------------------------

    def generate(self, eval_set_id: str, *, generator: str = "auto", model: str | None = None,
                 candidates: int | None = None, instructions: str | None = None) -> JobAccepted:
        """Start writing an eval from the set's ratings; the job's result names the new version."""
        fields = {k: v for k, v in dict(generator=generator, model=model, candidates=candidates,
                                        instructions=instructions).items() if v is not None}
        req = _request_model(GenerateRequest, **fields)
        return self._call(JobAccepted, "POST", f"/eval-sets/{eval_set_id}/generate", req)

    def evals(self, eval_set_id: str) -> Iterator[EvalVersion]:
        """The set's eval versions."""
        return self.paginate(EvalVersion, "/evals", eval_set_id=eval_set_id)

    def get_eval(self, eval_id: str) -> EvalVersion:
        return self._get(EvalVersion, f"/evals/{eval_id}")

    def save_version(self, eval_id: str, code: str) -> SavedVersion:
        """A hand-edited new version (validated like generated code)."""
        return self._call(SavedVersion, "POST", f"/evals/{eval_id}/versions", {"code": code})

    def refine(self, eval_id: str, **fields: Any) -> JobAccepted:
        """Start a new version trained on the originals plus the contradictions."""
        return self._call(JobAccepted, "POST", f"/evals/{eval_id}/refine", _request_model(RefineRequest, **fields))

    def activate(self, eval_id: str) -> EvalVersion:
        """Make this the set's active version (an older one: rollback)."""
        return self._call(EvalVersion, "POST", f"/evals/{eval_id}/activate")

    def archive(self, eval_id: str) -> EvalVersion:
        return self._call(EvalVersion, "POST", f"/evals/{eval_id}/archive")

    def diff(self, eval_id: str, against: str) -> VersionDiff:
        """Code diff and flipped traces from ``against`` to this version."""
        return self._get(VersionDiff, f"/evals/{eval_id}/diff", against=against)

    def export(self, eval_id: str, format: Literal["python", "pytest"] = "python") -> tuple[str, str]:
        """``(filename, text)`` of the version as a module or a pytest file."""
        response = self._request("GET", f"/evals/{eval_id}/export", params={"format": format})
        disposition = response.headers.get("content-disposition", "")
        filename = disposition.split("filename=")[-1].strip('"') if "filename=" in disposition else f"{eval_id}.py"
        return filename, response.text

    def execute(self, eval_id: str, *, trace_ids: list[str] | None = None, filters: dict | None = None,
                only_missing: bool = False) -> JobAccepted:
        """Start running a version over traces (all of them by default)."""
        fields: dict[str, Any] = {"only_missing": only_missing}
        if trace_ids is not None:
            fields["trace_ids"] = trace_ids
        if filters is not None:
            fields["filters"] = filters
        return self._call(JobAccepted, "POST", f"/evals/{eval_id}/execute", _request_model(ExecuteRequest, **fields))

    def executions(self, eval_id: str) -> Iterator[Execution]:
        """Every stored result of a version."""
        return self.paginate(Execution, f"/evals/{eval_id}/executions")

    def trend(self, eval_id: str, bucket: Literal["day", "hour"] = "day", *, since: str | None = None,
              until: str | None = None) -> Trend:
        """Pass rate and result counts per day or hour over the version's runs, drops marked."""
        return self._get(Trend, f"/evals/{eval_id}/trend", bucket=bucket, **{"from": since, "to": until})

    def execution(self, eval_id: str, trace_id: str) -> ExecutionDetail:
        """One result with the code that ran and the human rating."""
        return self._get(ExecutionDetail, f"/executions/{eval_id}/{trace_id}")

    def matrix(self, eval_set_id: str, *, eval_ids: list[str] | None = None, filter: str | None = None,
               rating: str | None = None, stats: str | None = None, cursor: str | None = None,
               limit: int | None = None, **more: Any) -> Matrix:
        """One page of the matrix: rated traces × versions, with each version's stats on the first page."""
        return self._get(Matrix, f"/eval-sets/{eval_set_id}/matrix", eval_ids=",".join(eval_ids) if eval_ids else None,
                         filter=filter, rating=rating, stats=stats, cursor=cursor, limit=limit,
                         **{("from" if k == "from_" else k): v for k, v in more.items()})

    def matrix_rows(self, eval_set_id: str, *, first: Matrix | None = None, **query: Any) -> Iterator[MatrixRow]:
        """Every matrix row across pages, from ``first`` if already fetched (stats are only fetched once)."""
        page = first or self.matrix(eval_set_id, **query)
        while True:
            yield from page.rows
            if not page.next_cursor:
                return
            page = self.matrix(eval_set_id, **{**query, "stats": "none"}, cursor=page.next_cursor)

    def matrix_csv(self, eval_set_id: str, **query: Any) -> str:
        """The first page of the matrix as CSV."""
        return self._request("GET", f"/eval-sets/{eval_set_id}/matrix.csv", params=query).text

    # --- jobs -----------------------------------------------------------------------------

    def jobs(self) -> Iterator[Job]:
        """The workspace's jobs, newest first."""
        return self.paginate(Job, "/jobs")

    def get_job(self, job: JobRef) -> Job:
        return self._get(Job, f"/jobs/{_job_id(job)}")

    def job_events(self, job: JobRef, after: int = 0) -> list[JobEvent]:
        """Progress events with ``seq`` > ``after``."""
        return list(self.paginate(JobEvent, f"/jobs/{_job_id(job)}/events", after=after))

    def job_failures(self, job: JobRef) -> Iterator[JobFailure]:
        """Every failure of a job (an import's traces or lines that failed), in order; the job carries the first few."""
        return self.paginate(JobFailure, f"/jobs/{_job_id(job)}/failures")

    def cancel_job(self, job: JobRef) -> Job:
        return self._call(Job, "POST", f"/jobs/{_job_id(job)}/cancel")

    def wait(self, job: JobRef, *, on_progress: ProgressCallback | None = None, interval_s: float = 0.5,
             timeout_s: float | None = None, check: bool = False) -> Job:
        """Poll a job until it ends; ``on_progress(job, new_events)`` after every poll.

        ``check=True`` raises JobFailed when it ends failed or cancelled; past ``timeout_s``
        raises TimeoutError (the job goes on).
        """
        job_id = _job_id(job)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        seen = 0
        while True:
            current = self.get_job(job_id)
            events = self.job_events(job_id, after=seen) if on_progress else []
            if events:
                seen = events[-1].seq
            if on_progress:
                on_progress(current, events)
            if current.status in FINAL_STATUSES:
                if check and current.status != "succeeded":
                    raise JobFailed(current)
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {current.status} after {timeout_s} s")
            self._sleep(interval_s)


class _gzipped:
    """The file as gzip bytes in a seekable stream, and its size (a gzip file as it is)."""

    def __init__(self, file: str | Path | bytes):
        self.file = file
        self._closing: list[IO[bytes]] = []

    def __enter__(self) -> tuple[IO[bytes], int]:
        if isinstance(self.file, bytes):
            data = self.file if self.file.startswith(GZIP_MAGIC) else gzip.compress(self.file, compresslevel=6)
            out: IO[bytes] = tempfile.SpooledTemporaryFile()
            out.write(data)
        else:
            source = open(self.file, "rb")
            self._closing.append(source)
            if source.read(2) == GZIP_MAGIC:
                source.seek(0)
                size = Path(self.file).stat().st_size
                return source, size
            source.seek(0)
            out = tempfile.SpooledTemporaryFile(max_size=PRESIGN_OVER)
            with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as packed:
                shutil.copyfileobj(source, packed, 1024 * 1024)
        self._closing.append(out)
        size = out.tell()
        out.seek(0)
        return out, size

    def __exit__(self, *exc: object) -> None:
        for stream in self._closing:
            stream.close()
