// Review mode: one trace at a time, rated with keys, buttons or swipes. The next trace shows at
// once (prefetched from the review queue) while the rating is saved in the background.

import { loadEvalSet } from "./evalsets.js";
import { api } from "../api.js";
import { SaveQueue } from "../savequeue.js";
import { ENGINE_PENDING, startGenerate } from "../generate.js";
import { jobPanel } from "../jobwatch.js";
import { readiness } from "../readiness.js";
import { scopeSummary } from "../scope.js";
import { traceBody } from "../tracebody.js";
import { actionButton, emptyState, errorState, fmtTime, h, loading, progressBar, ratingLabels, toast,
  toastError } from "../ui.js";

const KEYS = {
  1: "positive", ArrowRight: "positive",
  2: "negative", ArrowLeft: "negative",
  3: "neutral", ArrowDown: "neutral",
};
const SHORTCUTS = [
  ["1 or →", "Good"], ["2 or ←", "Bad"], ["3 or ↓", "Unsure"], ["n", "Write a note"], ["Esc", "Leave the note"],
  ["s", "Skip this trace (rate it later)"], ["u", "Undo the last rating"], ["?", "This help"],
];
const SWIPE_PX = 80;
const PREFETCH = 3;

/** The Generate button: enabled when the set is ready; says plainly when the engine is missing.
 * With `land`, a finished generation opens the new version's page. */
export function generateControl(set, { land = false } = {}) {
  const note = h("p", { class: "hint generate-note", role: "status" });
  const jobs = h("div", {});
  let current = set;
  const button = actionButton("Generate eval", async () => {
    const result = await startGenerate(current.id);
    if (result.pending) {
      note.textContent = ENGINE_PENDING;
      toast(ENGINE_PENDING, "info");
      return;
    }
    const panel = jobPanel(result.jobId, "Generating an eval");
    jobs.replaceChildren(panel);
    panel.done.then((job) => {
      toast(job.status === "succeeded" ? "A new eval is ready." : `Generation ${job.status}: ${job.error || ""}`,
        job.status === "succeeded" ? "ok" : "error");
      if (job.status !== "succeeded") return;
      box.dispatchEvent(new CustomEvent("generated", { bubbles: true, detail: job }));
      const evalId = job.result?.eval_id;
      if (evalId && land && panel.isConnected) location.hash = `#/evals/${encodeURIComponent(evalId)}`;
      else if (evalId) {
        note.replaceChildren(h("a", { href: `#/evals/${encodeURIComponent(evalId)}`, class: "new-version-link" },
          `Open v${job.result.version ?? ""} →`));
      }
    }).catch(toastError);
  }, { class: "btn btn-primary generate-btn" });
  const box = h("div", { class: "generate" }, button, note, jobs);
  box.update = (next) => {
    current = next;
    const r = readiness(next);
    button.disabled = !r.ready;
    button.title = r.ready ? "Write an eval from these ratings" : `Needs ${r.target - r.have} more example(s): ${r.detail}`;
    if (!r.ready && !note.textContent.startsWith("Generation arrives")) {
      note.textContent = `Generate unlocks at ${r.target} examples with at least one good and one bad.`;
    } else if (r.ready && !note.textContent.startsWith("Generation arrives")) {
      note.textContent = "Ready: enough good and bad examples to generate an eval.";
    }
  };
  box.update(set);
  return box;
}

export async function renderReview(main, setId) {
  main.append(loading("Loading the review queue…"));
  let set = await loadEvalSet(main, setId);
  if (!set) return;
  const enc = encodeURIComponent(set.id);
  const state = {
    queue: [], // queue items not shown yet ({id, name, timestamp, input_preview})
    seen: new Set(),
    current: null,
    history: [], // [{item, rating, notes}]
    cache: new Map(), // id -> Promise<trace>
    exhausted: false,
    serverCounts: { ...set.counts },
    localDelta: { positive: 0, negative: 0, neutral: 0 },
  };

  const progress = progressBar(0, "", { name: "Examples toward ready" });
  const progressDetail = h("p", { class: "hint" });
  const generate = generateControl(set, { land: true });
  const saveStatus = h("div", { class: "save-status", role: "status", "aria-live": "polite" });
  const stage = h("div", { class: "review-stage" });
  const help = helpDialog();
  const helpButton = h("button", { type: "button", class: "btn btn-ghost btn-sm", "aria-haspopup": "dialog",
    onclick: () => help.showModal() }, "Shortcuts (?)");

  main.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: `#/eval-sets/${enc}` }, `← ${set.name}`)),
    h("div", { class: "page-head" },
      h("div", {}, h("h1", { class: "page-title", tabindex: "-1" }, `Review: ${set.name}`),
        scopeSummary(set.scope) ? h("p", { class: "hint scope-summary" }, scopeSummary(set.scope)) : null,
        set.criteria ? h("details", { class: "criteria" }, h("summary", {}, "Criteria"), h("div", { class: "text-block" }, set.criteria)) : null),
      h("div", { class: "actions" }, helpButton)),
    h("section", { class: "card review-progress" }, progress, progressDetail, generate),
    saveStatus, stage, help);

  const saves = new SaveQueue(set.id, { onChange: renderSaveStatus, onSaved: scheduleRefresh });

  function counts() {
    const c = { positive: 0, negative: 0, neutral: 0, ...state.serverCounts };
    for (const k of Object.keys(state.localDelta)) c[k] = Math.max(0, (c[k] || 0) + state.localDelta[k]);
    return c;
  }

  function renderProgress() {
    const view = { ...set, counts: counts() };
    const optimistic = Object.values(state.localDelta).some((v) => v !== 0);
    if (optimistic) delete view.ready;
    const r = readiness(view);
    progress.set(r.have, r.label, r.target);
    progress.dataset.have = String(r.have);
    progressDetail.textContent = r.detail;
    generate.update(view);
  }

  let refreshTimer = null;
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      await saves.idle();
      if (saves.status().failed.length) return;
      try {
        set = await api.get(`/eval-sets/${enc}`);
        state.serverCounts = { ...set.counts };
        state.localDelta = { positive: 0, negative: 0, neutral: 0 };
        renderProgress();
      } catch (err) {
        if (err.status !== 0) toastError(err);
      }
    }, 400);
  }

  function renderSaveStatus({ saving, failed }) {
    if (failed.length) {
      saveStatus.replaceChildren(h("div", { class: "save-failed", role: "alert" },
        h("strong", {}, `${failed.length} rating${failed.length > 1 ? "s" : ""} not saved.`),
        " They are kept in this browser. ",
        h("span", { class: "muted" }, failed[0].error || ""),
        h("button", { type: "button", class: "btn btn-sm", onclick: () => saves.retryFailed() }, "Retry now")));
      saveStatus.dataset.state = "failed";
    } else if (saving) {
      saveStatus.replaceChildren(h("span", { class: "muted" }, `Saving ${saving} rating${saving > 1 ? "s" : ""}…`));
      saveStatus.dataset.state = "saving";
    } else {
      saveStatus.replaceChildren(h("span", { class: "muted" }, state.history.length ? "All ratings saved." : ""));
      saveStatus.dataset.state = "saved";
    }
  }

  const itemId = (item) => item.id ?? item.trace_id;

  async function fetchMore() {
    if (state.exhausted) return;
    const page = await api.get(`/eval-sets/${enc}/review-queue`, { limit: 20 });
    const pending = saves.pendingIds();
    let added = 0;
    for (const raw of page.items || []) {
      const item = { ...(raw.trace || {}), ...raw, id: itemId(raw) };
      if (!item.id || state.seen.has(item.id) || pending.has(item.id)) continue;
      state.seen.add(item.id);
      state.queue.push(item);
      added++;
    }
    if (!added) state.exhausted = true;
  }

  function loadTrace(id) {
    if (!state.cache.has(id)) {
      const promise = api.get(`/traces/${encodeURIComponent(id)}`);
      promise.catch(() => state.cache.delete(id));
      state.cache.set(id, promise);
    }
    return state.cache.get(id);
  }

  function prefetch() {
    for (const item of state.queue.slice(0, PREFETCH)) loadTrace(item.id).catch(() => {});
    if (state.queue.length < PREFETCH && !state.exhausted) fetchMore().then(prefetch).catch(() => {});
  }

  async function showNext() {
    if (!state.queue.length && !state.exhausted) {
      stage.replaceChildren(loading("Fetching more traces…"));
      try {
        await fetchMore();
      } catch (err) {
        stage.replaceChildren(errorState(err, showNext));
        return;
      }
    }
    state.current = state.queue.shift() || null;
    renderCurrent("");
    prefetch();
  }

  let notesInput = null;
  let card = null;

  function renderCurrent(notes) {
    notesInput = null;
    card = null;
    if (!state.current) {
      stage.replaceChildren(emptyState("All caught up",
        state.history.length ? "No unrated traces left in the queue." : "There are no unrated traces to review.",
        h("a", { class: "btn", href: `#/eval-sets/${enc}` }, "Back to the eval set"),
        h("a", { class: "btn btn-ghost", href: "#/traces" }, "Browse traces")));
      stage.dataset.traceId = "";
      return;
    }
    const item = state.current;
    notesInput = h("textarea", { class: "notes", rows: "2", "aria-label": "Notes for this trace",
      placeholder: "Notes: why good or bad? (press n; Esc to leave)" });
    notesInput.value = notes;
    const body = h("div", { class: "review-trace" }, loading("Loading trace…"));
    const undo = h("button", { type: "button", class: "btn btn-ghost", disabled: !state.history.length,
      onclick: undoLast, "aria-keyshortcuts": "u" }, "Undo (u)");
    card = h("article", { class: "card review-card", "aria-label": "Trace to rate", "data-trace-id": item.id },
      h("div", { class: "review-card-head" },
        h("div", {}, h("h2", {}, item.name || "(unnamed trace)"),
          h("p", { class: "muted" }, fmtTime(item.timestamp), " · ",
            h("a", { href: `#/traces/${encodeURIComponent(item.id)}` }, "open"))),
        h("span", { class: "muted queue-left" }, `${state.queue.length}${state.exhausted ? "" : "+"} more in queue`)),
      item.reason ? h("p", { class: "hint" }, `In the queue because: ${item.reason}`) : null,
      h("div", { class: "rate-buttons", role: "group", "aria-label": "Rate" },
        rateButton("positive", "1 / →"), rateButton("negative", "2 / ←"), rateButton("neutral", "3 / ↓"),
        h("button", { type: "button", class: "btn btn-ghost skip-btn", onclick: skip, "aria-keyshortcuts": "s" }, "Skip (s)"),
        undo),
      notesInput, body);
    stage.replaceChildren(card);
    stage.dataset.traceId = item.id;
    attachSwipe(card);
    loadTrace(item.id).then((trace) => {
      if (state.current === item) body.replaceChildren(traceBody(trace, { compact: true }));
    }, (err) => {
      if (state.current === item) body.replaceChildren(errorState(err, () => renderCurrent(notesInput.value)));
    });
  }

  function rateButton(rating, keys) {
    return h("button", { type: "button", class: `btn btn-${rating} rate-btn`, "data-rating": rating,
      "aria-keyshortcuts": keys.replace(" / ", " ").replace("→", "ArrowRight").replace("←", "ArrowLeft").replace("↓", "ArrowDown"),
      onclick: () => rate(rating) },
    ratingLabels[rating], h("kbd", {}, keys));
  }

  function rate(rating) {
    const item = state.current;
    if (!item) return;
    const notes = notesInput ? notesInput.value.trim() : "";
    state.history.push({ item, rating, notes });
    state.localDelta[rating]++;
    saves.rate(item.id, rating, notes).then((ok) => {
      if (!ok) toast(`Rating of “${item.name || item.id}” not saved; it is kept and can be retried.`, "error");
    });
    renderProgress();
    showNext();
  }

  /** Leave the current trace unrated for now: it stays in the set's queue for a later visit. */
  function skip() {
    if (!state.current) return;
    toast(`Skipped “${state.current.name || state.current.id}”.`, "info", { timeoutMs: 2000 });
    showNext();
  }

  function undoLast() {
    const last = state.history.pop();
    if (!last) {
      toast("Nothing to undo.", "info");
      return;
    }
    if (state.current) state.queue.unshift(state.current);
    state.current = last.item;
    state.localDelta[last.rating]--;
    saves.unrate(last.item.id);
    renderProgress();
    renderCurrent(last.notes);
    toast(`Undid “${ratingLabels[last.rating]}”.`, "info", { timeoutMs: 2500 });
  }

  function attachSwipe(el) {
    let start = null;
    el.addEventListener("pointerdown", (e) => {
      if (e.pointerType === "mouse" || e.target.closest("textarea, button, a, summary, pre")) return;
      start = { x: e.clientX, y: e.clientY, id: e.pointerId };
    });
    el.addEventListener("pointermove", (e) => {
      if (!start || e.pointerId !== start.id) return;
      const dx = e.clientX - start.x;
      el.style.transform = `translateX(${dx}px) rotate(${dx / 40}deg)`;
      el.dataset.swipe = dx > SWIPE_PX / 2 ? "positive" : dx < -SWIPE_PX / 2 ? "negative" : "";
    });
    const end = (e) => {
      if (!start || e.pointerId !== start.id) return;
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      start = null;
      el.style.transform = "";
      el.dataset.swipe = "";
      if (Math.abs(dx) > SWIPE_PX && Math.abs(dx) > Math.abs(dy)) rate(dx > 0 ? "positive" : "negative");
      else if (dy > SWIPE_PX * 1.5 && Math.abs(dy) > Math.abs(dx) * 2) rate("neutral");
    };
    el.addEventListener("pointerup", end);
    el.addEventListener("pointercancel", () => {
      start = null;
      el.style.transform = "";
    });
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]");
    if (typing) {
      if (event.key === "Escape" && target === notesInput) {
        event.preventDefault();
        notesInput.blur();
        card?.focus?.();
      }
      return;
    }
    if (help.open) return;
    if (event.key in KEYS) {
      event.preventDefault();
      rate(KEYS[event.key]);
    } else if (event.key === "n") {
      event.preventDefault();
      notesInput?.focus();
    } else if (event.key === "s") {
      event.preventDefault();
      skip();
    } else if (event.key === "u") {
      event.preventDefault();
      undoLast();
    } else if (event.key === "?") {
      event.preventDefault();
      help.showModal();
    }
  }

  function beforeUnload(event) {
    if (saves.status().saving) {
      event.preventDefault();
      event.returnValue = "";
    }
  }

  document.addEventListener("keydown", onKey);
  window.addEventListener("beforeunload", beforeUnload);
  renderProgress();
  saves.resume();
  renderSaveStatus(saves.status());
  await showNext();
  return () => {
    document.removeEventListener("keydown", onKey);
    window.removeEventListener("beforeunload", beforeUnload);
    clearTimeout(refreshTimer);
  };
}

function helpDialog() {
  const dialog = h("dialog", { class: "help", "aria-label": "Keyboard shortcuts" },
    h("h2", {}, "Keyboard shortcuts"),
    h("dl", { class: "shortcuts" }, SHORTCUTS.map(([keys, what]) => [h("dt", {}, h("kbd", {}, keys)), h("dd", {}, what)])),
    h("p", { class: "hint" }, "On a touch screen, swipe right for good, left for bad, down for unsure."),
    h("form", { method: "dialog" }, h("button", { class: "btn", type: "submit", autofocus: true }, "Close")));
  return dialog;
}
