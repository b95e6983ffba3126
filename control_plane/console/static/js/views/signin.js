// Sign in with an API key; the key stays in this tab's sessionStorage only.

import { h, fill, field, message } from "../dom.js";
import { describeError } from "../api.js";

export async function render(ctx) {
  const input = h("input", { type: "password", name: "api-key", autocomplete: "off", spellcheck: "false",
    required: true, placeholder: "pq_…" });
  const status = h("div", { "aria-live": "polite" });
  if (ctx.state.signOutNote) status.append(message("info", ctx.state.signOutNote));
  const form = h("form", { class: "panel signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("p", {}, "Paste an API key. ", h("code", {}, "pq up"), " prints the first admin key; ",
      h("code", {}, "pq keys create --project NAME"), " makes more."),
    field("API key", input, "Kept in this browser tab only (sessionStorage) and sent as a bearer token."),
    h("button", { type: "submit", class: "primary" }, "Sign in"), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    fill(status, h("p", {}, "Checking the key…"));
    try {
      ctx.state.whoami = await ctx.api.request("GET", "api-keys/me", { key });
      ctx.state.key = key;
      sessionStorage.setItem("pq.apiKey", key);
      ctx.state.signOutNote = null;
      ctx.state.projects = null;
      ctx.navigate("#/data");
    } catch (error) {
      ctx.state.key = null;
      ctx.state.whoami = null;
      fill(status, message("error", error.status === 401 ? "That key was not accepted: " : "Could not sign in: ",
        describeError(error)));
      input.focus();
    }
  });
  ctx.show(form);
  input.focus();
}
