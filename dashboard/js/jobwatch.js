// Live job progress: polls GET /v1/jobs/{id} and GET /v1/jobs/{id}/events?after=N until the job ends.

import { api } from "./api.js";
import { traceRef } from "./tracenames.js";
import { actionButton, badge, codeBlock, fmtMs, h, progressBar, toast } from "./ui.js";

export const FINAL = ["succeeded", "failed", "cancelled"];
const FAILURES_PAGE = 100; // failures per "Show more"
// Colours that tell the truth: green all done, amber done with failed items, red failed, grey cancelled, blue running.
const OUTCOME_KIND = { succeeded: "good", partial: "warn", "all failed": "bad", failed: "bad", cancelled: "",
  running: "info", queued: "" };

/** Items a finished job handled well and badly, from its result counts (null when it has none). */
function itemCounts(job) {
  const r = job.result || job.counters || {};
  if (job.type === "import" || job.type === "upload") {
    return { ok: (r.imported ?? 0) + (r.updated ?? 0) + (r.skipped ?? 0), failed: r.failed ?? 0 };
  }
  if (job.type === "execute") return { ok: (r.pass ?? 0) + (r.fail ?? 0), failed: (r.error ?? 0) + (r.timeout ?? 0) };
  return null;
}

/** What really happened: a succeeded job with failed items is "partial", with only failed items "all failed". */
export function jobOutcome(job) {
  if (job.status !== "succeeded") return job.status;
  const n = itemCounts(job);
  if (!n || !n.failed) return "succeeded";
  return n.ok ? "partial" : "all failed";
}

export function statusBadge(job) {
  const outcome = jobOutcome(job);
  const b = badge(outcome, OUTCOME_KIND[outcome] ?? "");
  b.dataset.outcome = outcome;
  return b;
}

/** Poll a job; calls onJob(job) and onEvent(event); resolves with the final job. */
export function watchJob(jobId, { onJob, onEvent, intervalMs = 600 } = {}) {
  let stopped = false;
  let after = 0;
  let failures = 0;
  const done = new Promise((resolve, reject) => {
    const tick = async () => {
      if (stopped) return;
      try {
        const job = await api.get(`/jobs/${encodeURIComponent(jobId)}`);
        const events = await api.get(`/jobs/${encodeURIComponent(jobId)}/events`, { after });
        for (const event of events.items || []) {
          after = Math.max(after, event.seq);
          onEvent?.(event);
        }
        onJob?.(job);
        failures = 0;
        if (FINAL.includes(job.status)) {
          resolve(job);
          return;
        }
      } catch (err) {
        if (++failures >= 5 || (err.status && err.status < 500 && err.status !== 429)) {
          reject(err);
          return;
        }
      }
      setTimeout(tick, intervalMs);
    };
    tick();
  });
  return { done, stop: () => (stopped = true) };
}

/** One line saying how a job ended (or how far it got). */
export function resultText(job) {
  if (job.status === "failed") return job.error || "failed";
  if (job.status === "cancelled") return "cancelled";
  const r = job.result || job.counters || {};
  if (job.type === "import" || job.type === "upload") {
    return `${r.imported ?? 0} new, ${r.updated ?? 0} updated, ${r.skipped ?? 0} unchanged, ${r.failed ?? 0} failed`;
  }
  if ((job.type === "generate" || job.type === "refine") && r.eval_id) return `eval ${r.eval_id} v${r.version ?? "?"}`;
  if (job.type === "execute") {
    return `${r.executed ?? 0} traces: ${r.pass ?? 0} pass, ${r.fail ?? 0} fail, ${r.error ?? 0} error, ${r.timeout ?? 0} timeout`;
  }
  return Object.entries(r).filter(([, v]) => typeof v !== "object").map(([k, v]) => `${k}: ${v}`).join(", ");
}

/** Per-item failures of a finished job ({trace_id | external_id, line, reason}): a stored trace by its name
 * and first user message, an item that never became a trace by its source id. The job carries the first
 * few; "Show more" pages through all of them (GET /jobs/{id}/failures, from the first one again). */
function failuresList(job) {
  const inline = job.result?.failures || [];
  const total = job.result?.failed ?? inline.length;
  if (!inline.length) return null;
  const labels = job.traces || {};
  const item = (f) => h("li", {},
    f.trace_id ? [traceRef(f.trace_id, labels[f.trace_id]), " "] : null,
    !f.trace_id && f.external_id ? [h("code", {}, String(f.external_id)), " "] : null, String(f.reason ?? ""));
  const list = h("ul", { class: "failure-list" }, inline.map(item));
  const hint = h("p", { class: "hint failure-count" });
  let cursor = null;
  let paged = false;
  const more = actionButton("Show more", async () => {
    const page = await api.get(`/jobs/${encodeURIComponent(job.id)}/failures`, { limit: FAILURES_PAGE, cursor });
    if (!paged) list.replaceChildren();
    paged = true;
    list.append(...page.items.map(item));
    cursor = page.next_cursor;
    update();
  }, { class: "btn btn-ghost failures-more" });
  const update = () => {
    const shown = list.children.length;
    hint.textContent = shown < total ? `Showing ${shown} of ${total}.` : "";
    more.hidden = shown >= total || (paged && !cursor);
  };
  update();
  return h("section", { class: "job-failures" }, h("h4", {}, `Failed items (${total})`), list, hint, more);
}

/** The traces a job's items name, by name and first user message: a refinement's fixed and broken traces,
 * the traces a run was asked for. */
function namedItems(job) {
  const labels = job.traces || {};
  const comparison = job.result?.comparison || {};
  const groups = [["Fixed by the refinement", comparison.fixed], ["Broken by the refinement", comparison.broken],
    ["Traces this run was asked for", job.params?.trace_ids]].filter(([, ids]) => ids?.length);
  if (!groups.length) return null;
  return h("section", { class: "job-items" }, groups.map(([title, ids]) => [
    h("h4", {}, `${title} (${ids.length})`),
    h("ul", { class: "job-traces" }, ids.slice(0, 200).map((id) => h("li", {}, traceRef(id, labels[id]))))]));
}

/** The rest of a finished job's result, as JSON text; generated versions link to their page. */
function resultBlock(job) {
  const { failures, ...rest } = job.result || {};
  if (!Object.keys(rest).length) return null;
  const link = rest.eval_id ? h("p", {}, h("a", { href: `#/evals/${encodeURIComponent(rest.eval_id)}`, class: "job-eval-link" },
    `Open ${rest.eval_id}${rest.version ? ` v${rest.version}` : ""} →`)) : null;
  return h("section", { class: "job-result" }, h("h4", {}, "Result"), link, codeBlock(rest));
}

// The stages a generation (or refinement) job reports in its events' data.stage (chalicelib/evals/tasks.py).
const STAGES = [["load", "Load ratings"], ["candidates", "Write candidates"], ["folds", "Cross-validation folds"],
  ["testing", "Test in the sandbox"], ["save", "Save and score"]];

/** The list of generation stages: done ones ticked, the current one with its step ("fold 3 of 9"). */
function stagesView() {
  const items = new Map(STAGES.map(([key, label]) => [key, h("li", { class: "job-stage", "data-stage": key,
    "data-state": "todo" }, h("span", { class: "job-stage-label" }, label), " ", h("span", { class: "job-stage-step muted" }))]));
  const view = h("ol", { class: "job-stages", "aria-label": "Stages" }, [...items.values()]);
  view.update = ({ stage, step, steps }) => {
    const at = STAGES.findIndex(([key]) => key === stage);
    if (at < 0) return;
    STAGES.forEach(([key], i) => {
      const item = items.get(key);
      if (i < at) item.dataset.state = "done";
      else if (i === at) item.dataset.state = steps && step >= steps && key !== "save" ? "done" : "current";
      else item.dataset.state = "todo";
    });
    if (steps > 1) items.get(stage).querySelector(".job-stage-step").textContent = `${step} of ${steps}`;
    view.dataset.stage = stage;
  };
  view.finish = (ok) => {
    for (const item of items.values()) if (ok || item.dataset.state === "done") item.dataset.state = "done";
  };
  return view;
}

/** A panel with a live progress bar and the job's event log; resolves `panel.done` with the job.
 * With `detail`, it also has a Cancel button while the job runs, and per-item failures and the result once done. */
export function jobPanel(jobId, title, { detail = false } = {}) {
  const bar = progressBar(0, "Queued…", { name: title });
  const status = h("span", { class: "job-status" }, statusBadge({ status: "queued" }));
  const log = h("ol", { class: "event-log", "aria-label": "Job events", "aria-live": "polite" });
  const summary = h("p", { class: "job-summary", role: "status" });
  const outcome = h("div", { class: "job-outcome" });
  let finished = false;
  const cancel = detail ? actionButton("Cancel job", async () => {
    const job = await api.post(`/jobs/${encodeURIComponent(jobId)}/cancel`, {});
    toast(`Job ${job.status}.`, "info");
  }, { class: "btn btn-ghost cancel-btn", hidden: true }) : null;
  const head = h("div", { class: "job-panel-head" }, h("h3", {}, title), status,
    detail ? cancel : h("a", { href: `#/jobs/${encodeURIComponent(jobId)}`, class: "small job-link" }, "Details"));
  const panel = h("section", { class: "card job-panel", "data-job-id": jobId }, head, bar, summary, outcome,
    detail ? h("h4", {}, "Events") : null, log);
  const started = Date.now();
  let eventProgress = 0;
  let stages = null;
  const watcher = watchJob(jobId, {
    onJob: (job) => {
      const done = FINAL.includes(job.status);
      status.replaceChildren(statusBadge(job));
      bar.setState(jobOutcome(job));
      // Tasks report progress in their events before the job record catches up (generation never updates it).
      const progress = done ? job.progress ?? 0 : Math.max(job.progress ?? 0, eventProgress);
      bar.set(progress, done ? `${jobOutcome(job)} · ${progress}%` : `${progress}%`);
      if (cancel) cancel.hidden = done;
      if (done && !finished) {
        finished = true;
        summary.textContent = `${resultText(job)}${detail ? "" : ` (${fmtMs(Date.now() - started)})`}`;
        stages?.finish(job.status === "succeeded");
        if (detail) outcome.replaceChildren(...[failuresList(job), namedItems(job), resultBlock(job)].filter(Boolean));
      } else if (!done && job.counters && Object.keys(job.counters).length) {
        summary.textContent = resultText(job);
      }
    },
    onEvent: (event) => {
      if (typeof event.progress === "number") eventProgress = Math.max(eventProgress, event.progress);
      if (event.data?.stage) {
        if (!stages) bar.after(stages = stagesView());
        stages.update(event.data);
      }
      log.append(h("li", {}, h("span", { class: "muted" }, `#${event.seq} `), event.message));
    },
  });
  panel.done = watcher.done.catch((err) => {
    summary.textContent = `Lost track of the job: ${err.message}`;
    throw err;
  });
  panel.stop = watcher.stop;
  return panel;
}
