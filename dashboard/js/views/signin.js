// Sign in with an API key (kept in localStorage), or create a workspace when sign-up is open.

import { api, getApiUrl, session } from "../api.js";
import { codeBlock, field, h, toastError } from "../ui.js";

export function renderSignIn(main, { onSignedIn }) {
  const keyInput = h("input", { type: "password", name: "api_key", autocomplete: "current-password", required: true,
    spellcheck: "false", placeholder: "iof_…" });
  const show = h("button", { type: "button", class: "btn btn-ghost btn-sm", "aria-pressed": "false",
    onclick: () => {
      const visible = keyInput.type === "password";
      keyInput.type = visible ? "text" : "password";
      show.setAttribute("aria-pressed", String(visible));
      show.textContent = visible ? "Hide" : "Show";
    } }, "Show");
  const message = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Sign in");

  const form = h("form", { class: "stack", onsubmit: async (event) => {
    event.preventDefault();
    message.textContent = "";
    const key = keyInput.value.trim();
    if (!key) {
      message.textContent = "Enter an API key.";
      keyInput.focus();
      return;
    }
    submit.disabled = true;
    try {
      const info = await api.get("/workspace", {}, { key });
      session.key = key;
      onSignedIn(info);
    } catch (err) {
      message.textContent = err.status === 401 ? "That key is not accepted by this API." : err.message;
      keyInput.focus();
    } finally {
      submit.disabled = false;
    }
  } },
  field("API key", h("div", { class: "input-row" }, keyInput, show),
    ["Kept in this browser only. ", h("code", {}, "make dev"), " prints one, and writes it to ",
      h("code", {}, ".iofold/local.json"), "."]),
  message, submit);

  const wsName = h("input", { type: "text", name: "workspace", value: "My workspace", maxlength: "200" });
  const created = h("div", {});
  const signup = h("details", { class: "signup" },
    h("summary", {}, "No key yet? Create a workspace"),
    h("form", { class: "stack", onsubmit: async (event) => {
      event.preventDefault();
      try {
        const result = await api.post("/workspaces", { name: wsName.value.trim() || "My workspace" }, { key: "" });
        keyInput.value = result.api_key;
        created.replaceChildren(h("p", {}, "Your owner key (shown once; it is now filled in above):"),
          codeBlock(result.api_key));
        keyInput.focus();
      } catch (err) {
        toastError(err, "Could not create a workspace: ");
      }
    } }, field("Workspace name", wsName), h("button", { type: "submit", class: "btn" }, "Create workspace"), created));

  main.append(h("section", { class: "signin card" },
    h("div", { class: "signin-brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "◐"), " iofold"),
    h("h1", { class: "page-title", tabindex: "-1" }, "Sign in"),
    h("p", { class: "muted" }, "Rate agent traces, and iofold writes the eval that reproduces your judgment."),
    form, signup,
    h("p", { class: "hint" }, `API: ${getApiUrl()}`)));
  keyInput.focus();
}
