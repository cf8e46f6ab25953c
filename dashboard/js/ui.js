// DOM helpers, formatting and shared widgets. Untrusted text only ever goes in as text nodes.

/** Build an element: h("a", {href, class, onclick}, child, "text", [children]). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// --- formatting ------------------------------------------------------------------------

export function fmtTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function fmtAgo(iso) {
  if (!iso) return "never";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (Number.isNaN(seconds)) return iso;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function fmtInt(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString();
}

export function fmtCost(usd) {
  if (usd === null || usd === undefined) return "—";
  if (usd === 0) return "$0";
  return usd < 0.01 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(2)}`;
}

/** Pretty text for any JSON value: strings as is, the rest indented. */
export function fmtValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

// --- widgets ---------------------------------------------------------------------------

export function pageHeader(title, subtitle, ...actions) {
  return h("div", { class: "page-head" },
    h("div", {}, h("h1", { tabindex: "-1", class: "page-title" }, title), subtitle ? h("p", { class: "muted" }, subtitle) : null),
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

export function loading(label = "Loading…") {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), label);
}

export function emptyState(title, text, ...actions) {
  return h("div", { class: "empty" }, h("h2", {}, title), text ? h("p", { class: "muted" }, text) : null,
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

export function errorState(err, retry) {
  reportBug(err);
  return h("div", { class: "empty error-state", role: "alert" }, h("h2", {}, "Something went wrong"),
    h("p", {}, err.message || String(err)),
    retry ? h("button", { type: "button", class: "btn", onclick: retry }, "Try again") : null);
}

/** A labelled progress bar; update with bar.set(value, label). */
export function progressBar(value = 0, label = "", { max = 100, name = "Progress" } = {}) {
  const fill = h("div", { class: "progress-fill" });
  const bar = h("div", { class: "progress", role: "progressbar", "aria-label": name, "aria-valuemin": "0" }, fill);
  const text = h("div", { class: "progress-label" });
  const wrap = h("div", { class: "progress-wrap" }, bar, text);
  wrap.set = (v, l, m = max) => {
    const pct = m > 0 ? Math.max(0, Math.min(100, (v / m) * 100)) : 0;
    fill.style.width = `${pct}%`;
    bar.setAttribute("aria-valuemax", String(m));
    bar.setAttribute("aria-valuenow", String(v));
    if (l !== undefined) {
      text.textContent = l;
      bar.setAttribute("aria-valuetext", l);
    }
  };
  wrap.setState = (state) => (wrap.dataset.state = state);
  wrap.set(value, label, max);
  return wrap;
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind ? `badge-${kind}` : ""}` }, text);
}

export function field(label, input, hint) {
  const control = input.matches("input, select, textarea") ? input : input.querySelector("input, select, textarea");
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("p", { class: "hint" }, hint) : null);
}

/** Collapsible block of preformatted text (a JSON value or a long string). */
export function codeBlock(value, { open = true, summary = null } = {}) {
  const pre = h("pre", { class: "code" }, fmtValue(value));
  if (!summary) return pre;
  return h("details", { class: "code-details", open }, h("summary", {}, summary), pre);
}

// --- toasts ----------------------------------------------------------------------------

/** Show a short message; kind is "error", "ok" or "info". Errors stay until closed. */
export function toast(message, kind = "info", { timeoutMs } = {}) {
  const box = document.getElementById("toasts");
  const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "toast-text" }, message), close);
  const remove = () => item.remove();
  close.addEventListener("click", remove);
  box.append(item);
  const ms = timeoutMs ?? (kind === "error" ? 10000 : 4000);
  if (ms > 0) setTimeout(remove, ms);
  return item;
}

/** A bug in this code (not an API answer or an expected failure) goes to the console as well, so it
 * is seen (and fails the browser tests) instead of hiding in a toast. */
export function reportBug(err) {
  if (err instanceof TypeError || err instanceof ReferenceError || err instanceof RangeError || err instanceof SyntaxError) {
    console.error(err);
  }
}

/** Toast an API error with its message (and request id when there is one). */
export function toastError(err, prefix = "") {
  reportBug(err);
  const rid = err && err.requestId ? ` (request ${err.requestId})` : "";
  toast(`${prefix}${err && err.message ? err.message : String(err)}${rid}`, "error");
}

/** A button that disables itself while its async handler runs. */
export function actionButton(label, handler, props = {}) {
  const button = h("button", { type: "button", class: "btn", ...props }, label);
  button.addEventListener("click", async (event) => {
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await handler(event);
    } catch (err) {
      toastError(err);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
  return button;
}

/** A form's submit handler: runs `action` with `button` disabled; an API error shows in `errorEl` and a toast. */
export function submitHandler(button, errorEl, action) {
  return async (event) => {
    event.preventDefault();
    button.disabled = true;
    errorEl.textContent = "";
    try {
      await action();
    } catch (err) {
      errorEl.textContent = err.message;
      toastError(err);
    } finally {
      button.disabled = false;
    }
  };
}

/** The hash route's query parameters. */
export function hashQuery() {
  const hash = location.hash.slice(1);
  const i = hash.indexOf("?");
  return new URLSearchParams(i >= 0 ? hash.slice(i + 1) : "");
}

export const ratingLabels = { positive: "Good", negative: "Bad", neutral: "Unsure" };
