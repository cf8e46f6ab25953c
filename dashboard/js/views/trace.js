// One trace: header, the shared trace body, and a small panel to rate it in an eval set.

import { api } from "../api.js";
import { badge, errorState, fmtTime, h, loading, ratingLabels, toast, toastError } from "../ui.js";
import { traceBody } from "../tracebody.js";

export async function renderTrace(main, traceId) {
  main.append(loading("Loading trace…"));
  let trace;
  try {
    trace = await api.get(`/traces/${encodeURIComponent(traceId)}`);
  } catch (err) {
    main.replaceChildren(h("p", {}, h("a", { href: "#/traces" }, "← Traces")),
      err.status === 404 ? errorState(new Error("This trace does not exist in your workspace.")) : errorState(err));
    return;
  }
  const source = trace.source || {};
  main.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: "#/traces" }, "← Traces")),
    h("div", { class: "page-head" },
      h("div", {},
        h("h1", { class: "page-title", tabindex: "-1" }, trace.name || "(unnamed trace)"),
        h("p", { class: "muted" }, fmtTime(trace.timestamp), " · ", source.platform || "",
          webUrl(source.url) ? [" · ", h("a", { href: webUrl(source.url), target: "_blank", rel: "noopener noreferrer" },
            "open in source")] : null),
        h("div", { class: "tags" }, (trace.tags || []).map((t) => badge(t))))),
    ratePanel(trace.id),
    traceBody(trace));
}

/** The trace's link back to its source, only when it is an http(s) URL (a `javascript:` link would run code). */
function webUrl(value) {
  try {
    const url = new URL(String(value));
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

function ratePanel(traceId) {
  const panel = h("section", { class: "card rate-panel", "aria-label": "Rate this trace", hidden: true });
  api.get("/eval-sets", { limit: 200 }).then((page) => {
    const sets = page.items || [];
    if (!sets.length) return;
    const select = h("select", { "aria-label": "Eval set" }, sets.map((s) => h("option", { value: s.id }, s.name)));
    const notes = h("input", { type: "text", placeholder: "Notes (optional)", "aria-label": "Notes" });
    const current = h("span", { class: "muted", role: "status" });
    const rate = async (rating) => {
      try {
        await api.put(`/eval-sets/${encodeURIComponent(select.value)}/feedback/${encodeURIComponent(traceId)}`,
          { rating, notes: notes.value });
        current.textContent = `Rated ${ratingLabels[rating].toLowerCase()}.`;
        toast("Rating saved.", "ok");
      } catch (err) {
        toastError(err, "Rating not saved: ");
      }
    };
    panel.append(h("h2", { class: "sr-only" }, "Rate"), select, notes,
      h("div", { class: "rate-buttons" },
        ["positive", "negative", "neutral"].map((r) =>
          h("button", { type: "button", class: `btn btn-${r}`, onclick: () => rate(r) }, ratingLabels[r]))),
      current);
    panel.hidden = false;
  }).catch(() => {});
  return panel;
}
