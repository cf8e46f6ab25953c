// Recent jobs with status and progress; refreshes while any job is still running.

import { api } from "../api.js";
import { FINAL, statusBadge } from "../jobwatch.js";
import { emptyState, errorState, fmtAgo, fmtMs, h, loading, pageHeader, progressBar } from "../ui.js";

export async function renderJobs(main) {
  const list = h("div", { class: "job-list" });
  main.append(pageHeader("Jobs", "Imports, generations and runs."), list);
  let timer = null;
  let alive = true;
  list.append(loading("Loading jobs…"));

  async function load() {
    try {
      const page = await api.get("/jobs", { limit: 50 });
      if (!alive) return;
      const items = page.items || [];
      list.replaceChildren(...items.map(jobRow));
      if (!items.length) list.replaceChildren(emptyState("No jobs yet", "Imports and generations show up here."));
      if (items.some((j) => !FINAL.includes(j.status))) timer = setTimeout(load, 1500);
    } catch (err) {
      if (alive) list.replaceChildren(errorState(err, load));
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
  bar.setState(job.status);
  const counters = Object.entries(job.counters || {}).map(([k, v]) => `${k} ${v}`).join(" · ");
  return h("article", { class: "card job-row", "data-job-id": job.id },
    h("div", { class: "job-row-head" },
      h("strong", {}, job.type), statusBadge(job.status),
      h("code", { class: "muted small" }, job.id),
      h("span", { class: "muted" }, `started ${fmtAgo(job.created_at)}${took ? ` · took ${took}` : ""}`)),
    bar,
    counters ? h("p", { class: "hint" }, counters) : null,
    job.error ? h("p", { class: "error-text" }, job.error) : null);
}
