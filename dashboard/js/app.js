// Entry point: load config, check the stored key, route on the URL hash.

import { api, loadConfig, session } from "./api.js";
import { clear, errorState, h, loading, toast } from "./ui.js";
import { ctx } from "./state.js";
import { renderSignIn } from "./views/signin.js";
import { renderHome } from "./views/home.js";
import { renderTraces } from "./views/traces.js";
import { renderTrace } from "./views/trace.js";
import { renderEvalSets } from "./views/evalsets.js";
import { renderEvalSet } from "./views/evalset.js";
import { renderReview } from "./views/review.js";
import { renderIntegrations } from "./views/integrations.js";
import { renderJob, renderJobs } from "./views/jobs.js";
import { renderMatrix } from "./views/matrix.js";
import { renderEval } from "./views/eval.js";

const routes = [
  [/^\/?$/, renderHome, "home"],
  [/^\/traces$/, renderTraces, "traces"],
  [/^\/traces\/([^/]+)$/, renderTrace, "traces"],
  [/^\/eval-sets$/, renderEvalSets, "eval-sets"],
  [/^\/eval-sets\/([^/]+)$/, renderEvalSet, "eval-sets"],
  [/^\/eval-sets\/([^/]+)\/review$/, renderReview, "eval-sets"],
  [/^\/eval-sets\/([^/]+)\/matrix$/, renderMatrix, "eval-sets"],
  [/^\/evals\/([^/]+)$/, renderEval, "eval-sets"],
  [/^\/integrations$/, renderIntegrations, "integrations"],
  [/^\/jobs$/, renderJobs, "jobs"],
  [/^\/jobs\/([^/]+)$/, renderJob, "jobs"],
];

const main = document.getElementById("main");
const topbar = document.querySelector(".topbar");
let cleanup = null;
let renderSeq = 0;

function currentPath() {
  const hash = location.hash.replace(/^#/, "");
  return hash.split("?")[0] || "/";
}

async function route() {
  const seq = ++renderSeq;
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const path = currentPath();
  if (!session.key || !ctx.workspace) {
    topbar.hidden = true;
    if (path !== "/signin") {
      location.replace("#/signin");
      return;
    }
    clear(main);
    cleanup = renderSignIn(main, { onSignedIn: signedIn });
    focusTitle();
    return;
  }
  if (path === "/signin") {
    location.replace("#/");
    return;
  }
  topbar.hidden = false;
  const match = routes.map(([re, view, nav]) => [re.exec(path), view, nav]).find(([m]) => m);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (match && link.dataset.nav === match[2]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  clear(main);
  if (!match) {
    main.append(h("div", { class: "empty" }, h("h1", { class: "page-title", tabindex: "-1" }, "Page not found"),
      h("p", {}, h("a", { href: "#/" }, "Back to the overview"))));
    focusTitle();
    return;
  }
  const [m, view] = match;
  const params = m.slice(1).map(decodeURIComponent);
  try {
    const result = view(main, ...params);
    cleanup = result instanceof Promise ? null : result;
    if (result instanceof Promise) {
      const c = await result;
      if (seq === renderSeq) cleanup = c;
      else if (typeof c === "function") c();
    }
  } catch (err) {
    clear(main).append(errorState(err, route));
  }
  if (seq === renderSeq) focusTitle();
}

function focusTitle() {
  // Move focus to the page title so keyboard and screen-reader users start at the new page.
  const title = main.querySelector(".page-title");
  if (title && !main.contains(document.activeElement)) title.focus({ preventScroll: true });
  else if (title && document.activeElement === document.body) title.focus({ preventScroll: true });
}

async function signedIn(info) {
  ctx.workspace = info.workspace;
  ctx.role = info.role;
  document.getElementById("who").textContent = `${info.workspace.name} · ${info.role}`;
  if (currentPath() === "/signin") location.replace("#/");
  else route();
}

function signOut() {
  session.key = null;
  ctx.workspace = null;
  location.hash = "#/signin";
  route();
}

async function start() {
  clear(main).append(loading());
  try {
    await loadConfig();
  } catch (err) {
    clear(main).append(errorState(new Error(`Cannot load config.json: ${err.message}`), start));
    return;
  }
  document.getElementById("signout").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  window.addEventListener("iofold:unauthenticated", () => {
    if (!ctx.workspace) return;
    toast("Your API key is no longer accepted; sign in again.", "error");
    signOut();
  });
  if (session.key) {
    try {
      const info = await api.get("/workspace");
      ctx.workspace = info.workspace;
      ctx.role = info.role;
      document.getElementById("who").textContent = `${info.workspace.name} · ${info.role}`;
    } catch (err) {
      if (err.status !== 401) {
        clear(main).append(errorState(err, start));
        return;
      }
      session.key = null;
    }
  }
  route();
}

start();
