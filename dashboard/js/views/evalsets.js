// Eval sets: the list with counts and warnings, and the form that creates one.

import { api } from "../api.js";
import { badge, emptyState, errorState, field, h, loading, pageHeader, progressBar, toast, toastError } from "../ui.js";
import { readiness } from "../readiness.js";
import { scopeFields, scopeSummary } from "../scope.js";
import { loadTrend, sparkline } from "../trend.js";

// The eval set a page is about; on failure the page shows the error and a way back (returns null).
export async function loadEvalSet(main, setId) {
  try {
    return await api.get(`/eval-sets/${encodeURIComponent(setId)}`);
  } catch (err) {
    main.replaceChildren(h("p", { class: "crumbs" }, h("a", { href: "#/eval-sets" }, "← Eval sets")), errorState(err));
    return null;
  }
}

export async function renderEvalSets(main) {
  const formBox = h("div", {});
  const newButton = h("button", { type: "button", class: "btn btn-primary", "aria-expanded": "false",
    onclick: () => toggleForm() }, "New eval set");
  main.append(pageHeader("Eval sets", "A question you rate traces against; iofold turns the ratings into an eval.", newButton),
    formBox);
  const list = h("div", { class: "grid" });
  main.append(list);

  function toggleForm(force) {
    const open = force ?? !formBox.firstChild;
    newButton.setAttribute("aria-expanded", String(open));
    if (!open) {
      formBox.replaceChildren();
      newButton.focus();
      return;
    }
    formBox.replaceChildren(createForm({ onCancel: () => toggleForm(false) }));
    formBox.querySelector("input").focus();
  }

  async function load() {
    list.replaceChildren(loading("Loading eval sets…"));
    try {
      const page = await api.get("/eval-sets", { limit: 200 });
      // The list carries no counts: read each set's detail (counts, ready, warnings).
      const sets = await Promise.all((page.items || []).map((s) =>
        api.get(`/eval-sets/${encodeURIComponent(s.id)}`).catch(() => s)));
      list.replaceChildren(...sets.map(evalSetCard));
      if (!sets.length) {
        list.replaceChildren(emptyState("No eval sets yet",
          "Create one for a behaviour you care about, e.g. “refunds follow the policy”.",
          h("button", { type: "button", class: "btn btn-primary", onclick: () => toggleForm(true) }, "Create an eval set")));
      }
    } catch (err) {
      list.replaceChildren(err.missingRoute
        ? emptyState("Eval sets are not available yet", "This API does not serve /v1/eval-sets yet.")
        : errorState(err, load));
    }
  }
  if (new URLSearchParams(location.hash.split("?")[1] || "").get("new")) toggleForm(true);
  await load();
}

export function createForm({ onCancel } = {}) {
  const name = h("input", { type: "text", name: "name", required: true, maxlength: "200", placeholder: "Refund policy" });
  const description = h("input", { type: "text", name: "description", placeholder: "What this set is about" });
  const criteria = h("textarea", { name: "criteria", rows: "4",
    placeholder: "Good: looks the order up and checks eligibility before refunding.\nBad: refunds without checking, or claims success after a tool error." });
  const scope = scopeFields();
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Create");
  const form = h("form", { class: "card stack", "aria-label": "New eval set", onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const set = await api.post("/eval-sets", { name: name.value.trim(), description: description.value.trim(),
        criteria: criteria.value.trim(), scope: scope.value() });
      toast(`Eval set “${set.name}” created.`, "ok");
      location.hash = `#/eval-sets/${encodeURIComponent(set.id)}`;
    } catch (err) {
      toastError(err);
    } finally {
      submit.disabled = false;
    }
  } },
  h("h2", {}, "New eval set"),
  field("Name", name), field("Description", description),
  field("Criteria", criteria, "How a reviewer decides good or bad. The generator reads this too."),
  h("details", { class: "scope-details" }, h("summary", {}, "Limit to some traces (one agent, source, tag or period)"), scope),
  h("div", { class: "actions" }, submit,
    onCancel ? h("button", { type: "button", class: "btn btn-ghost", onclick: onCancel }, "Cancel") : null));
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && onCancel) onCancel();
  });
  return form;
}

export function warningsList(set) {
  const warnings = set.warnings || [];
  if (!warnings.length) return null;
  return h("ul", { class: "warnings" }, warnings.map((w) =>
    h("li", {}, h("span", { "aria-hidden": "true" }, "⚠ "), typeof w === "string" ? w : w.message || w.code || JSON.stringify(w))));
}

function evalSetCard(set) {
  const r = readiness(set);
  const bar = progressBar(r.have, r.label, { max: r.target, name: `${set.name} readiness` });
  return h("article", { class: "card set-card" },
    h("div", { class: "set-card-head" },
      h("h2", {}, h("a", { href: `#/eval-sets/${encodeURIComponent(set.id)}` }, set.name)),
      r.ready ? badge("ready", "good") : badge("collecting")),
    set.description ? h("p", { class: "muted" }, set.description) : null,
    scopeSummary(set.scope) ? h("p", { class: "hint scope-summary" }, scopeSummary(set.scope)) : null,
    bar, h("p", { class: "hint" }, r.detail),
    set.active_eval_id ? activeTrend(set.active_eval_id) : null,
    warningsList(set),
    h("div", { class: "actions" },
      h("a", { class: "btn btn-primary", href: `#/eval-sets/${encodeURIComponent(set.id)}/review` }, "Review"),
      h("a", { class: "btn btn-ghost", href: `#/eval-sets/${encodeURIComponent(set.id)}` }, "Details")));
}

/** The active version's pass rate per day as a sparkline, linking to its page (filled in when loaded). */
function activeTrend(evalId) {
  const box = h("p", { class: "set-trend", "data-eval-id": evalId },
    h("a", { href: `#/evals/${encodeURIComponent(evalId)}`, title: "The active version's pass rate per day" }, "Active version"));
  loadTrend(evalId, "day").then((trend) => {
    const last = trend.points[trend.points.length - 1];
    box.dataset.points = String(trend.points.length);
    box.append(trend.points.length ? sparkline(trend) : h("span", { class: "muted" }, "no runs yet"),
      last ? h("span", { class: "muted" }, `${Math.round((last.pass_rate ?? 0) * 100)}% latest`) : null,
      trend.points.some((p) => p.drop) ? badge("drop", "bad") : null);
  }).catch(() => box.append(h("span", { class: "muted" }, "trend unavailable")));
  return box;
}
