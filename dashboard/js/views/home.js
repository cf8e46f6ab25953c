// Overview: the first-run checklist (source → eval set → rate → generate) and where things stand.

import { api, request } from "../api.js";
import { jobPanel } from "../jobwatch.js";
import { readiness } from "../readiness.js";
import { actionButton, h, loading, pageHeader, progressBar, toast, toastError } from "../ui.js";
import { ctx } from "../state.js";

async function safe(promise, fallback) {
  try {
    return await promise;
  } catch {
    return fallback;
  }
}

export async function renderHome(main) {
  main.append(pageHeader(`Welcome${ctx.workspace ? ` to ${ctx.workspace.name}` : ""}`,
    "Rate a handful of traces; iofold writes a Python eval that agrees with you."));
  const body = h("div", {}, loading("Checking your workspace…"));
  main.append(body);

  const empty = { items: [] };
  const [integrations, traces, sets, jobs] = await Promise.all([
    safe(api.get("/integrations", { limit: 200 }), empty),
    safe(api.get("/traces", { limit: 1 }), empty),
    safe(api.get("/eval-sets", { limit: 200 }), empty),
    safe(api.get("/jobs", { limit: 50 }), empty),
  ]);
  const hasSource = integrations.items.length > 0 || traces.items.length > 0;
  const evalSets = sets.items || [];
  // Eval set lists may omit counts: fetch the first few sets for their counts.
  const detailed = await Promise.all(evalSets.slice(0, 5).map((s) =>
    s.counts ? s : safe(api.get(`/eval-sets/${encodeURIComponent(s.id)}`), s)));
  const rated = detailed.some((s) => Object.values(s.counts || {}).some((n) => n > 0));
  const best = detailed.map((s) => ({ set: s, r: readiness(s) })).sort((a, b) => b.r.have / b.r.target - a.r.have / a.r.target)[0];
  const generated = jobs.items.some((j) => j.type === "generate" && j.status === "succeeded");

  const demoJobs = h("div", {});
  const loadDemo = actionButton("Use the demo traces", async () => {
    const response = await fetch("demo/traces.langfuse.jsonl");
    if (!response.ok) throw new Error(`demo traces: HTTP ${response.status}`);
    const accepted = await request("POST", "/traces/upload", { raw: await response.text(),
      contentType: "application/x-ndjson", query: { format: "langfuse" } });
    const panel = jobPanel(accepted.job_id, "Loading demo traces");
    demoJobs.replaceChildren(panel);
    panel.done.then((job) => {
      toast(job.status === "succeeded" ? "Demo traces loaded." : `Demo upload ${job.status}.`, job.status === "succeeded" ? "ok" : "error");
    }).catch(toastError);
  });

  const steps = [
    {
      done: hasSource, title: "Connect a source or use the demo traces",
      text: hasSource ? `${integrations.items.length} integration(s); traces are in.` : "Import from Langfuse, or try iofold on a support agent's demo traces.",
      actions: [h("a", { class: "btn btn-primary", href: "#/integrations" }, "Connect Langfuse"), loadDemo],
    },
    {
      done: evalSets.length > 0, title: "Create an eval set",
      text: "Name the behaviour you care about and how to judge it.",
      actions: [h("a", { class: "btn btn-primary", href: "#/eval-sets?new=1" }, "Create an eval set")],
    },
    {
      done: Boolean(best && best.r.ready), title: "Rate traces",
      text: best ? `${best.set.name}: ${best.r.label}.` : "Good, bad or unsure, one trace at a time, with the keyboard.",
      extra: best ? progressBar(best.r.have, best.r.label, { max: best.r.target, name: "Examples toward ready" }) : null,
      actions: best ? [h("a", { class: "btn btn-primary", href: `#/eval-sets/${encodeURIComponent(best.set.id)}/review` }, "Review")] : [],
      started: rated,
    },
    {
      done: generated, title: "Generate an eval",
      text: "iofold writes a Python function from your ratings and tests it on held-out examples.",
      actions: best ? [h("a", { class: "btn", href: `#/eval-sets/${encodeURIComponent(best.set.id)}` }, "Open the eval set")] : [],
    },
  ];
  const next = steps.findIndex((s) => !s.done);
  body.replaceChildren(
    h("section", { class: "card checklist-card" },
      h("h2", {}, next === -1 ? "All set up" : "Getting started"),
      h("ol", { class: "checklist" }, steps.map((s, i) => h("li", {
        class: `check ${s.done ? "is-done" : ""} ${i === next ? "is-next" : ""}`, "aria-current": i === next ? "step" : null },
      h("span", { class: "check-mark", "aria-hidden": "true" }, s.done ? "✓" : String(i + 1)),
      h("div", { class: "check-body" },
        h("h3", {}, s.title, h("span", { class: "sr-only" }, s.done ? " (done)" : "")),
        h("p", { class: "muted" }, s.text), s.extra || null,
        i === next && s.actions.length ? h("div", { class: "actions" }, s.actions) : null))))),
    demoJobs,
    h("div", { class: "grid overview" },
      overviewCard("Traces", traces.items.length ? "Browse imported traces" : "None yet", "#/traces"),
      overviewCard("Eval sets", `${evalSets.length} eval set${evalSets.length === 1 ? "" : "s"}`, "#/eval-sets"),
      overviewCard("Integrations", `${integrations.items.length} connected`, "#/integrations"),
      overviewCard("Jobs", `${jobs.items.filter((j) => !["succeeded", "failed", "cancelled"].includes(j.status)).length} running`, "#/jobs")));
}

function overviewCard(title, text, href) {
  return h("a", { class: "card overview-card", href }, h("h3", {}, title), h("p", { class: "muted" }, text));
}
