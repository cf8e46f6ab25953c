// Live job progress: polls GET /v1/jobs/{id} and GET /v1/jobs/{id}/events?after=N until the job ends.

import { api } from "./api.js";
import { badge, fmtMs, h, progressBar } from "./ui.js";

export const FINAL = ["succeeded", "failed", "cancelled"];
const STATUS_KIND = { succeeded: "good", failed: "bad", cancelled: "bad", running: "info", queued: "" };

export function statusBadge(status) {
  return badge(status, STATUS_KIND[status] ?? "");
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

function resultText(job) {
  if (job.status === "failed") return job.error || "failed";
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

/** A panel with a live progress bar and the job's event log; resolves `panel.done` with the job. */
export function jobPanel(jobId, title) {
  const bar = progressBar(0, "Queued…", { name: title });
  const status = h("span", { class: "job-status" }, statusBadge("queued"));
  const log = h("ol", { class: "event-log", "aria-label": "Job events", "aria-live": "polite" });
  const summary = h("p", { class: "job-summary", role: "status" });
  const panel = h("section", { class: "card job-panel", "data-job-id": jobId },
    h("div", { class: "job-panel-head" }, h("h3", {}, title), status), bar, summary, log);
  const started = Date.now();
  const watcher = watchJob(jobId, {
    onJob: (job) => {
      status.replaceChildren(statusBadge(job.status));
      bar.setState(job.status);
      const label = FINAL.includes(job.status) ? `${job.status} · ${job.progress}%` : `${job.progress}%`;
      bar.set(job.progress ?? 0, label);
      if (FINAL.includes(job.status)) summary.textContent = `${resultText(job)} (${fmtMs(Date.now() - started)})`;
    },
    onEvent: (event) => log.append(h("li", {}, h("span", { class: "muted" }, `#${event.seq} `), event.message)),
  });
  panel.done = watcher.done.catch((err) => {
    summary.textContent = `Lost track of the job: ${err.message}`;
    throw err;
  });
  panel.stop = watcher.stop;
  return panel;
}
