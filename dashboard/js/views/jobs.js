// Recent jobs with status and progress, refreshed while any job is still running; one job's page
// with its live events, progress, failed items, result and a Cancel button.

import { api } from "../api.js";
import { FINAL, jobOutcome, jobPanel, statusBadge } from "../jobwatch.js";
import { emptyState, errorState, fmtAgo, fmtMs, fmtTime, h, loading, pageHeader, progressBar } from "../ui.js";

const POLL_MS = 1500;

export async function renderJobs(main) {
  const list = h("div", { class: "job-list", "aria-label": "Jobs" });
  main.append(pageHeader("Jobs", "Imports, generations and runs."), list);
  let timer = null;
  let alive = true;
  list.append(loading("Loading jobs…"));

  async function load() {
    timer = null;
    try {
      const page = await api.get("/jobs", { limit: 50 });
      if (!alive) return;
      const items = page.items || [];
      list.replaceChildren(...items.map(jobRow));
      if (!items.length) list.replaceChildren(emptyState("No jobs yet", "Imports and generations show up here."));
      const running = items.some((j) => !FINAL.includes(j.status));
      list.dataset.polling = String(running);
      if (running) timer = setTimeout(load, POLL_MS);
    } catch (err) {
      if (!alive) return;
      list.dataset.polling = "false";
      list.replaceChildren(errorState(err, load));
    }
  }
  await load();
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}

function jobRow(job) {
  const took = job.started_at && job.finished_at ? fmtMs(new Date(job.finished_at) - new Date(job.started_at)) : null;
  const bar = progressBar(job.progress ?? 0, `${job.progress ?? 0}%`, { name: `${job.type} progress` });
  bar.setState(jobOutcome(job));
  const counters = Object.entries(job.counters || {}).map(([k, v]) => `${k} ${v}`).join(" · ");
  return h("article", { class: "card job-row", "data-job-id": job.id, "data-status": job.status },
    h("div", { class: "job-row-head" },
      h("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, class: "job-type" }, h("strong", {}, job.type)),
      statusBadge(job),
      h("code", { class: "muted small" }, job.id),
      h("span", { class: "muted" }, `started ${fmtAgo(job.created_at)}${took ? ` · took ${took}` : ""}`)),
    bar,
    counters ? h("p", { class: "hint" }, counters) : null,
    job.error ? h("p", { class: "error-text" }, job.error) : null);
}

const JOB_TITLES = { import: "Import", upload: "Upload", generate: "Generation", execute: "Run", refine: "Refinement" };

export async function renderJob(main, jobId) {
  main.append(loading("Loading job…"));
  let job;
  try {
    job = await api.get(`/jobs/${encodeURIComponent(jobId)}`);
  } catch (err) {
    main.replaceChildren(h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "← Jobs")),
      err.status === 404 ? errorState(new Error("This job does not exist in your workspace.")) : errorState(err));
    return null;
  }
  const title = `${JOB_TITLES[job.type] || job.type} job`;
  const params = Object.entries(job.params || {}).filter(([, v]) => v !== null && v !== "" && typeof v !== "object");
  const panel = jobPanel(job.id, "Progress", { detail: true });
  main.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "← Jobs")),
    pageHeader(title, null),
    h("dl", { class: "kv job-facts" },
      h("dt", {}, "Id"), h("dd", {}, h("code", {}, job.id)),
      h("dt", {}, "Created"), h("dd", {}, fmtTime(job.created_at)),
      params.map(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, String(v))])),
    panel);
  panel.done.catch(() => {}); // the panel says it lost track
  return () => panel.stop();
}
