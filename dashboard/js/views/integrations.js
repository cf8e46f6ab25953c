// Integrations: connect Langfuse or LangSmith, test the connection, import with live progress, upload
// trace files, and schedule imports per integration.

import { api } from "../api.js";
import { jobPanel, resultText, statusBadge } from "../jobwatch.js";
import { fmtUtc, nextRuns, parseExpression } from "../schedule.js";
import { actionButton, badge, emptyState, errorState, field, fmtAgo, h, loading, pageHeader, progressBar, submitHandler,
  toast, toastError } from "../ui.js";
import { PRESIGN_ABOVE_BYTES, uploadTraces } from "../upload.js";

const STATUS_KIND = { ok: "good", error: "bad", new: "" };

// What each platform's create request needs (API.md: POST /v1/integrations).
const PLATFORMS = {
  langfuse: {
    label: "Langfuse", host: "https://cloud.langfuse.com",
    help: "Keys from Langfuse → Settings → API keys. The secret is stored encrypted and never shown again.",
  },
  langsmith: {
    label: "LangSmith", host: "https://api.smith.langchain.com",
    help: "An API key from LangSmith → Settings → API keys, stored encrypted and never shown again.",
  },
};

export async function renderIntegrations(main) {
  const formBox = h("div", {});
  const connectButtons = Object.entries(PLATFORMS).map(([platform, p]) => h("button", {
    type: "button", class: platform === "langfuse" ? "btn btn-primary" : "btn", "aria-expanded": "false",
    "data-platform": platform, onclick: () => toggleForm(platform) }, `Connect ${p.label}`));
  const list = h("div", { class: "stack" });
  const jobs = h("div", { class: "stack", "aria-label": "Imports" });
  main.append(pageHeader("Integrations", "Where your traces come from.", ...connectButtons), formBox, jobs, list,
    uploadCard());
  let openPlatform = null;

  function toggleForm(platform, force) {
    const open = force ?? openPlatform !== platform;
    for (const b of connectButtons) b.setAttribute("aria-expanded", String(open && b.dataset.platform === platform));
    if (!open) {
      formBox.replaceChildren();
      openPlatform = null;
      connectButtons.find((b) => b.dataset.platform === platform)?.focus();
      return;
    }
    openPlatform = platform;
    formBox.replaceChildren(connectForm(platform, {
      onCreated: () => {
        toggleForm(platform, false);
        load();
      },
      onCancel: () => toggleForm(platform, false),
    }));
    formBox.querySelector("input").focus();
  }

  function startImport(integration) {
    return async () => {
      const accepted = await api.post("/traces/import", { integration_id: integration.id });
      const panel = jobPanel(accepted.job_id, `Importing from ${integration.name}`);
      jobs.prepend(panel);
      panel.done.then((job) => {
        toast(job.status === "succeeded" ? `Import from ${integration.name} finished.` : `Import ${job.status}: ${job.error || ""}`,
          job.status === "succeeded" ? "ok" : "error");
        load();
      }).catch(toastError);
    };
  }

  function row(integration) {
    const status = integration.status || "new";
    const testResult = h("p", { class: "hint test-result", role: "status" });
    const test = actionButton("Test connection", async () => {
      testResult.textContent = "Testing…";
      const result = await api.post(`/integrations/${encodeURIComponent(integration.id)}/test`);
      testResult.textContent = `${result.ok ? "✓ Connected" : "✗ Failed"}: ${result.detail}`;
      testResult.className = `hint test-result ${result.ok ? "ok-text" : "error-text"}`;
      toast(result.ok ? "Connection works." : `Connection failed: ${result.detail}`, result.ok ? "ok" : "error");
    });
    const remove = actionButton("Remove", async () => {
      if (!confirm(`Remove the integration “${integration.name}”? Imported traces stay.`)) return;
      await api.del(`/integrations/${encodeURIComponent(integration.id)}`);
      toast("Integration removed.", "ok");
      load();
    }, { class: "btn btn-ghost" });
    const schedule = scheduleSection(integration, { onSaved: load });
    return h("article", { class: "card integration", "data-integration-id": integration.id },
      h("div", { class: "set-card-head" },
        h("h2", {}, integration.name, " ", h("span", { class: "muted small" }, PLATFORMS[integration.platform]?.label || integration.platform)),
        badge(status, STATUS_KIND[status])),
      h("p", { class: "muted" }, integration.base_url, integration.project ? ` · project ${integration.project}` : ""),
      integration.status_detail ? h("p", { class: status === "error" ? "error-text" : "" }, integration.status_detail) : null,
      h("p", { class: "hint" }, `Last sync: ${fmtAgo(integration.last_sync_at)}`),
      h("div", { class: "actions" },
        actionButton("Import traces", startImport(integration), { class: "btn btn-primary" }), test, schedule.toggle, remove),
      testResult, schedule.section);
  }

  async function load() {
    list.replaceChildren(loading("Loading integrations…"));
    try {
      const page = await api.get("/integrations", { limit: 200 });
      const items = page.items || [];
      list.replaceChildren(...items.map(row));
      if (!items.length) {
        list.replaceChildren(emptyState("No sources connected",
          "Connect Langfuse or LangSmith to import your agent traces, upload a file below, or use the demo traces from the overview.",
          h("button", { type: "button", class: "btn btn-primary", onclick: () => toggleForm("langfuse", true) }, "Connect Langfuse"),
          h("a", { class: "btn", href: "#/" }, "Use demo traces")));
      }
    } catch (err) {
      list.replaceChildren(errorState(err, load));
    }
  }
  await load();
}

function connectForm(platform, { onCreated, onCancel }) {
  const p = PLATFORMS[platform];
  const name = h("input", { type: "text", name: "name", required: true, value: p.label, maxlength: "200" });
  const baseUrl = h("input", { type: "url", name: "base_url", required: true, value: p.host, inputmode: "url",
    spellcheck: "false" });
  const secret = (fieldName, placeholder) => h("input", { type: "password", name: fieldName, required: true, placeholder,
    autocomplete: "off" });
  let fields;
  let body;
  if (platform === "langfuse") {
    const publicKey = h("input", { type: "text", name: "public_key", required: true, placeholder: "pk-lf-…",
      autocomplete: "off", spellcheck: "false" });
    const secretKey = secret("secret_key", "sk-lf-…");
    const mode = h("select", { name: "mode" }, h("option", { value: "v1" }, "v1 trace endpoints"),
      h("option", { value: "v2" }, "v2 observations (cursor)"));
    fields = [field("Name", name), field("Host", baseUrl), field("Public key", publicKey), field("Secret key", secretKey),
      field("API", mode, "v2 needs a recent Langfuse.")];
    body = () => ({ credentials: { public_key: publicKey.value.trim(), secret_key: secretKey.value }, mode: mode.value });
  } else {
    const apiKey = secret("api_key", "lsv2_…");
    const project = h("input", { type: "text", name: "project", maxlength: "200", placeholder: "every project",
      spellcheck: "false" });
    fields = [field("Name", name), field("Host", baseUrl), field("API key", apiKey),
      field("Project", project, "A project name or id; leave empty to read every project the key sees.")];
    body = () => ({ credentials: { api_key: apiKey.value.trim() }, ...(project.value.trim() ? { project: project.value.trim() } : {}) });
  }
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Connect");
  const form = h("form", { class: "card stack", "aria-label": `Connect ${p.label}`, onsubmit: submitHandler(submit, error, async () => {
    const integration = await api.post("/integrations", { platform, name: name.value.trim(), base_url: baseUrl.value.trim(),
      ...body() });
    toast(`Connected “${integration.name}”. Test it, then import.`, "ok");
    onCreated(integration);
  }) },
  h("h2", {}, `Connect ${p.label}`), h("p", { class: "hint" }, p.help),
  h("div", { class: "form-grid" }, fields), error,
  h("div", { class: "actions" }, submit, h("button", { type: "button", class: "btn btn-ghost", onclick: onCancel }, "Cancel")));
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") onCancel();
  });
  return form;
}

// --- upload -----------------------------------------------------------------------------

const FORMATS = [["langfuse", "Langfuse traces"], ["unified", "iofold unified traces"], ["otlp", "OTLP / OpenInference spans"]];

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function uploadCard() {
  const file = h("input", { type: "file", name: "file", required: true, accept: ".jsonl,.ndjson,.json,.gz,.txt" });
  const format = h("select", { name: "format" }, FORMATS.map(([v, label]) => h("option", { value: v }, label)));
  const jobs = h("div", { class: "stack" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Upload");
  file.addEventListener("change", () => {
    const f = file.files[0];
    if (f && /otlp|otel|span/i.test(f.name)) format.value = "otlp";
  });
  const form = h("form", { class: "stack", "aria-label": "Upload traces", onsubmit: async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    submit.disabled = true;
    const bar = progressBar(0, `Sending ${chosen.name}…`, { name: `Uploading ${chosen.name}` });
    const box = h("section", { class: "card upload-progress", "data-file": chosen.name }, h("h3", {}, chosen.name), bar);
    jobs.prepend(box);
    try {
      const accepted = await uploadTraces(chosen, format.value, { onProgress: (sent, total) =>
        bar.set(sent, `Sending: ${fmtBytes(sent)} of ${fmtBytes(total)}`, total) });
      bar.set(1, `Sent ${fmtBytes(chosen.size)}${accepted.via === "presigned" ? " straight to storage" : ""}; importing…`, 1);
      bar.setState("succeeded");
      box.dataset.via = accepted.via;
      const panel = jobPanel(accepted.job_id, `Importing ${chosen.name}`);
      box.append(panel);
      form.reset();
      panel.done.then((job) => toast(`${chosen.name}: ${resultText(job)}`, job.status === "succeeded" ? "ok" : "error"))
        .catch(toastError);
    } catch (err) {
      bar.setState("failed");
      bar.set(0, `Not sent: ${err.message}`);
      toastError(err);
    } finally {
      submit.disabled = false;
    }
  } },
  h("div", { class: "form-grid" }, field("Trace file", file, "JSON Lines, one trace (or OTLP request) per line; .gz too."),
    field("Format", format)),
  h("div", { class: "actions" }, submit));
  return h("section", { class: "card upload-card" }, h("h2", {}, "Upload traces"),
    h("p", { class: "hint" }, `Files above ${fmtBytes(PRESIGN_ABOVE_BYTES)} go straight to storage through a signed link.`),
    form, jobs);
}

// --- schedule ---------------------------------------------------------------------------

const PRESETS = [["Hourly", "rate(1 hour)"], ["Daily", "rate(1 day)"], ["06:00 UTC on weekdays", "cron(0 6 ? * MON-FRI *)"]];

/** A one-line summary of the integration's schedule with its last run, and a toggle for the editor. */
function scheduleSection(integration, { onSaved }) {
  const schedule = integration.schedule;
  const enc = encodeURIComponent(integration.id);
  const editorBox = h("div", {});
  const toggle = h("button", { type: "button", class: "btn", "aria-expanded": "false", onclick: () => setOpen(!editorBox.firstChild) },
    schedule ? "Edit schedule" : "Schedule");
  const lastRun = h("p", { class: "hint last-run" });
  const summary = schedule ? h("div", { class: "schedule-summary" },
    h("p", {}, "Imports on ", h("code", {}, schedule.expression),
      schedule.run_active_evals ? ", then runs the active evals" : "", "."), lastRun) : null;
  if (schedule?.last_job_id) {
    lastRun.textContent = `Last run ${fmtAgo(schedule.last_run_at)}: loading…`;
    api.get(`/jobs/${encodeURIComponent(schedule.last_job_id)}`).then((job) => {
      lastRun.replaceChildren(`Last run ${fmtAgo(schedule.last_run_at)}: `, statusBadge(job), ` ${resultText(job)} · `,
        h("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, "details"));
    }).catch((err) => (lastRun.textContent = `Last run ${fmtAgo(schedule.last_run_at)}: ${err.message}`));
  } else if (schedule) {
    lastRun.textContent = "Not run yet.";
  }

  function setOpen(open) {
    toggle.setAttribute("aria-expanded", String(open));
    if (!open) {
      editorBox.replaceChildren();
      return;
    }
    editorBox.replaceChildren(scheduleEditor(integration, {
      onDone: (changed) => {
        setOpen(false);
        if (changed) onSaved();
      },
    }));
    editorBox.querySelector("input").focus();
  }
  return { toggle, section: h("div", { class: "schedule", "data-schedule-for": enc }, summary, editorBox) };
}

function scheduleEditor(integration, { onDone }) {
  const schedule = integration.schedule;
  const enc = encodeURIComponent(integration.id);
  const expression = h("input", { type: "text", name: "expression", required: true, spellcheck: "false",
    value: schedule?.expression || "rate(1 hour)", placeholder: "rate(1 hour)" });
  const runEvals = h("input", { type: "checkbox", name: "run_active_evals", checked: Boolean(schedule?.run_active_evals) });
  const nameFilter = h("input", { type: "text", name: "name", value: schedule?.filters?.name || "", placeholder: "any name" });
  const tagsFilter = h("input", { type: "text", name: "tags", value: (schedule?.filters?.tags || []).join(", "),
    placeholder: "any tags" });
  const message = h("p", { class: "schedule-message", role: "status", "aria-live": "polite" });
  const runs = h("ol", { class: "next-runs", "aria-label": "Next runs" });
  const error = h("p", { class: "form-error", role: "alert" });
  const save = h("button", { type: "submit", class: "btn btn-primary" }, "Save schedule");
  const since = schedule ? new Date(schedule.last_run_at || schedule.created_at) : null;

  function check() {
    try {
      const parsed = parseExpression(expression.value);
      const next = nextRuns(parsed, { since: expression.value.trim() === schedule?.expression ? since : null });
      expression.removeAttribute("aria-invalid");
      message.className = "schedule-message hint";
      message.textContent = next.length ? "Next runs:" : "This expression never runs again.";
      runs.replaceChildren(...next.map((at) => h("li", { "data-at": at.toISOString() }, fmtUtc(at))));
      return true;
    } catch (err) {
      expression.setAttribute("aria-invalid", "true");
      message.className = "schedule-message error-text";
      message.textContent = err.message;
      runs.replaceChildren();
      return false;
    }
  }
  expression.addEventListener("input", () => {
    error.textContent = "";
    check();
  });
  const presets = h("div", { class: "seg-group", role: "group", "aria-label": "Presets" }, PRESETS.map(([label, value]) =>
    h("button", { type: "button", class: "seg", onclick: () => {
      expression.value = value;
      check();
    } }, label)));

  const submit = submitHandler(save, error, async () => {
    const tags = tagsFilter.value.split(",").map((t) => t.trim()).filter(Boolean);
    await api.put(`/integrations/${enc}/schedule`, { expression: expression.value.trim(), run_active_evals: runEvals.checked,
      filters: { ...(nameFilter.value.trim() ? { name: nameFilter.value.trim() } : {}), ...(tags.length ? { tags } : {}) } });
    toast(`Schedule saved for ${integration.name}.`, "ok");
    onDone(true);
  });
  const form = h("form", { class: "card stack schedule-editor", "aria-label": `Schedule for ${integration.name}`,
    onsubmit: (event) => {
      if (check()) return submit(event);
      event.preventDefault();
      expression.focus();
      return null;
    } },
  h("h3", {}, "Scheduled import"),
  field("Expression", expression, "rate(5 minutes), rate(1 hour), rate(1 day), or cron(minutes hours day-of-month month day-of-week year) in UTC."),
  presets, message, runs,
  h("div", { class: "form-grid" }, field("Only traces named", nameFilter), field("Only with tags", tagsFilter, "Comma-separated.")),
  h("label", { class: "check-label" }, runEvals, " Run the active evals over the new traces after each import"),
  error,
  h("div", { class: "actions" }, save,
    schedule ? actionButton("Remove schedule", async () => {
      await api.del(`/integrations/${enc}/schedule`);
      toast(`Schedule removed from ${integration.name}.`, "ok");
      onDone(true);
    }, { class: "btn btn-ghost" }) : null,
    h("button", { type: "button", class: "btn btn-ghost", onclick: () => onDone(false) }, "Cancel")));
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") onDone(false);
  });
  check();
  return form;
}
