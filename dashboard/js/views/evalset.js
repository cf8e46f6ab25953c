// One eval set: readiness, counts, warnings, criteria, recent ratings, evals and Generate.

import { api, listAll } from "../api.js";
import { badge, emptyState, errorState, fmtAgo, h, loading, progressBar, ratingLabels, submitHandler, toast,
  toastError } from "../ui.js";
import { readiness } from "../readiness.js";
import { loadEvalSet, warningsList } from "./evalsets.js";
import { generateControl } from "./review.js";
import { versionsList } from "../versions.js";
import { ratedTraces, traceRef } from "../tracenames.js";
import { scopeFields, scopeSummary } from "../scope.js";

const RATING_KIND = { positive: "good", negative: "bad", neutral: "warn" };

export async function renderEvalSet(main, setId) {
  main.append(loading("Loading eval set…"));
  const set = await loadEvalSet(main, setId);
  if (!set) return;
  const r = readiness(set);
  const enc = encodeURIComponent(set.id);
  const counts = h("dl", { class: "counts" },
    ["positive", "negative", "neutral"].map((k) => h("div", { class: `count count-${k}` },
      h("dt", {}, ratingLabels[k]), h("dd", { "data-count": k }, String(r.counts[k])))));
  const generate = generateControl(set);
  let evals = evalsSection(set.id);
  generate.addEventListener("generated", () => {
    const fresh = evalsSection(set.id);
    evals.replaceWith(fresh);
    evals = fresh;
  });
  main.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: "#/eval-sets" }, "← Eval sets")),
    h("div", { class: "page-head" },
      h("div", {}, h("h1", { class: "page-title", tabindex: "-1" }, set.name),
        set.description ? h("p", { class: "muted" }, set.description) : null),
      h("div", { class: "actions" },
        h("a", { class: "btn btn-primary", href: `#/eval-sets/${enc}/review` }, "Review traces"),
        h("a", { class: "btn", href: `#/traces?eval_set_id=${enc}&rated=true` }, "Rated traces"))),
    h("section", { class: "card" },
      h("div", { class: "set-card-head" }, h("h2", {}, "Examples"), r.ready ? badge("ready", "good") : badge("collecting")),
      progressBar(r.have, r.label, { max: r.target, name: "Examples toward ready" }),
      h("p", { class: "hint" }, r.detail), counts, warningsList(set), generate),
    scopeSection(set),
    set.criteria ? h("section", { class: "card" }, h("h2", {}, "Criteria"), h("div", { class: "text-block" }, set.criteria)) : "",
    feedbackSection(set.id),
    evals);
}

function feedbackSection(setId) {
  const body = h("div", {}, loading("Loading ratings…"));
  Promise.all([api.get(`/eval-sets/${encodeURIComponent(setId)}/feedback`, { limit: 50 }),
    ratedTraces(setId).catch(() => new Map())]).then(([page, traces]) => {
    const items = page.items || [];
    if (!items.length) {
      body.replaceChildren(emptyState("No ratings yet", "Review a few traces to start.",
        h("a", { class: "btn btn-primary", href: `#/eval-sets/${encodeURIComponent(setId)}/review` }, "Start reviewing")));
      return;
    }
    body.replaceChildren(h("ul", { class: "feedback-list" }, items.map((f) => h("li", {},
      badge(ratingLabels[f.rating] || f.rating, RATING_KIND[f.rating]),
      traceRef(f.trace_id, traces.get(f.trace_id)),
      f.notes ? h("span", { class: "notes" }, `“${f.notes}”`) : null,
      h("span", { class: "muted" }, fmtAgo(f.rated_at || f.updated_at))))));
  }).catch((err) => body.replaceChildren(errorState(err)));
  return h("section", { class: "card" }, h("h2", {}, "Recent ratings"), body);
}

function evalsSection(setId) {
  const enc = encodeURIComponent(setId);
  const body = h("div", {}, loading("Loading evals…"));
  const matrixLink = h("a", { class: "btn btn-sm", href: `#/eval-sets/${enc}/matrix`, hidden: true }, "Open the matrix");
  const section = h("section", { class: "card evals-section" },
    h("div", { class: "set-card-head" }, h("h2", {}, "Evals"), matrixLink), body);
  listAll("/evals", { eval_set_id: setId }, 400).then((items) => {
    if (!items.length) {
      body.replaceChildren(h("p", { class: "muted" }, "No eval generated yet."));
      return;
    }
    matrixLink.hidden = false;
    body.replaceChildren(versionsList(items));
  }).catch((err) => {
    if (err.missingRoute) body.replaceChildren(h("p", { class: "muted" }, "Evals arrive with the engine."));
    else toastError(err);
  });
  return section;
}

/** The set's scope in words, and a form that replaces it (PATCH scope). */
function scopeSection(set) {
  const summary = h("p", { class: "scope-summary" });
  const formBox = h("div", {});
  const show = (scope) => (summary.textContent = scopeSummary(scope) || "Every trace of the workspace.");
  const edit = h("button", { type: "button", class: "btn btn-sm", "aria-expanded": "false", onclick: () => toggle() }, "Edit scope");
  let current = set.scope || {};
  function toggle(open = !formBox.firstChild) {
    edit.setAttribute("aria-expanded", String(open));
    if (!open) {
      formBox.replaceChildren();
      return;
    }
    const fields = scopeFields(current);
    const error = h("p", { class: "form-error", role: "alert" });
    const save = h("button", { type: "submit", class: "btn btn-primary" }, "Save scope");
    formBox.replaceChildren(h("form", { class: "stack", "aria-label": "Scope", onsubmit: submitHandler(save, error, async () => {
      const updated = await api.patch(`/eval-sets/${encodeURIComponent(set.id)}`, { scope: fields.value() });
      current = updated.scope || {};
      show(current);
      toast("Scope saved: the review queue follows it.", "ok");
      toggle(false);
    }) }, fields, error, h("div", { class: "actions" }, save,
      h("button", { type: "button", class: "btn btn-ghost", onclick: () => toggle(false) }, "Cancel"))));
    formBox.querySelector("input").focus();
  }
  show(current);
  return h("section", { class: "card scope-card" },
    h("div", { class: "set-card-head" }, h("h2", {}, "Scope"), edit), summary, formBox);
}
