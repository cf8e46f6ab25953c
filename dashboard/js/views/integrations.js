// Integrations: connect Langfuse, test the connection, see its status, import with live progress.

import { api } from "../api.js";
import { jobPanel } from "../jobwatch.js";
import { actionButton, badge, emptyState, errorState, field, fmtAgo, h, loading, pageHeader, toast,
  toastError } from "../ui.js";

const STATUS_KIND = { ok: "good", error: "bad", new: "" };

export async function renderIntegrations(main) {
  const formBox = h("div", {});
  const connect = h("button", { type: "button", class: "btn btn-primary", "aria-expanded": "false",
    onclick: () => toggleForm() }, "Connect Langfuse");
  const list = h("div", { class: "stack" });
  const jobs = h("div", { class: "stack", "aria-label": "Imports" });
  main.append(pageHeader("Integrations", "Where your traces come from.", connect), formBox, jobs, list);

  function toggleForm(force) {
    const open = force ?? !formBox.firstChild;
    connect.setAttribute("aria-expanded", String(open));
    if (!open) {
      formBox.replaceChildren();
      connect.focus();
      return;
    }
    formBox.replaceChildren(langfuseForm({
      onCreated: () => {
        toggleForm(false);
        load();
      },
      onCancel: () => toggleForm(false),
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
    const testResult = h("p", { class: "hint", role: "status" });
    const test = actionButton("Test connection", async () => {
      testResult.textContent = "Testing…";
      const result = await api.post(`/integrations/${encodeURIComponent(integration.id)}/test`);
      testResult.textContent = `${result.ok ? "✓ Connected" : "✗ Failed"}: ${result.detail}`;
      testResult.className = `hint ${result.ok ? "ok-text" : "error-text"}`;
      toast(result.ok ? "Connection works." : `Connection failed: ${result.detail}`, result.ok ? "ok" : "error");
    });
    const remove = actionButton("Remove", async () => {
      if (!confirm(`Remove the integration “${integration.name}”? Imported traces stay.`)) return;
      await api.del(`/integrations/${encodeURIComponent(integration.id)}`);
      toast("Integration removed.", "ok");
      load();
    }, { class: "btn btn-ghost" });
    return h("article", { class: "card integration", "data-integration-id": integration.id },
      h("div", { class: "set-card-head" },
        h("h2", {}, integration.name, " ", h("span", { class: "muted small" }, integration.platform)),
        badge(status, STATUS_KIND[status])),
      h("p", { class: "muted" }, integration.base_url),
      integration.status_detail ? h("p", { class: status === "error" ? "error-text" : "" }, integration.status_detail) : null,
      h("p", { class: "hint" }, `Last sync: ${fmtAgo(integration.last_sync_at)}`),
      h("div", { class: "actions" },
        actionButton("Import traces", startImport(integration), { class: "btn btn-primary" }), test, remove),
      testResult);
  }

  async function load() {
    list.replaceChildren(loading("Loading integrations…"));
    try {
      const page = await api.get("/integrations", { limit: 200 });
      const items = page.items || [];
      list.replaceChildren(...items.map(row));
      if (!items.length) {
        list.replaceChildren(emptyState("No sources connected",
          "Connect Langfuse to import your agent traces, or use the demo traces from the overview.",
          h("button", { type: "button", class: "btn btn-primary", onclick: () => toggleForm(true) }, "Connect Langfuse"),
          h("a", { class: "btn", href: "#/" }, "Use demo traces")));
      }
    } catch (err) {
      list.replaceChildren(errorState(err, load));
    }
  }
  await load();
}

function langfuseForm({ onCreated, onCancel }) {
  const name = h("input", { type: "text", name: "name", required: true, value: "Langfuse" });
  const baseUrl = h("input", { type: "url", name: "base_url", required: true, value: "https://cloud.langfuse.com",
    inputmode: "url", spellcheck: "false" });
  const publicKey = h("input", { type: "text", name: "public_key", required: true, placeholder: "pk-lf-…",
    autocomplete: "off", spellcheck: "false" });
  const secretKey = h("input", { type: "password", name: "secret_key", required: true, placeholder: "sk-lf-…",
    autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Connect");
  const form = h("form", { class: "card stack", "aria-label": "Connect Langfuse", onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const integration = await api.post("/integrations", {
        platform: "langfuse", name: name.value.trim(), base_url: baseUrl.value.trim(),
        credentials: { public_key: publicKey.value.trim(), secret_key: secretKey.value },
      });
      toast(`Connected “${integration.name}”. Test it, then import.`, "ok");
      onCreated(integration);
    } catch (err) {
      toastError(err);
    } finally {
      submit.disabled = false;
    }
  } },
  h("h2", {}, "Connect Langfuse"),
  h("p", { class: "hint" }, "Keys from Langfuse → Settings → API keys. The secret is stored encrypted and never shown again."),
  h("div", { class: "form-grid" }, field("Name", name), field("Host", baseUrl), field("Public key", publicKey),
    field("Secret key", secretKey)),
  h("div", { class: "actions" }, submit, h("button", { type: "button", class: "btn btn-ghost", onclick: onCancel }, "Cancel")));
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") onCancel();
  });
  return form;
}

