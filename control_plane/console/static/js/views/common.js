// Pieces the views share: page headers, status badges, "not available" notes, project paths.

import { h, message } from "../dom.js";
import { describeError } from "../api.js";

/** The API path of something in the current project: p(ctx, "tables", id). */
export function p(ctx, ...parts) {
  return ["projects", ctx.state.projectId, ...parts].map(encodeURIComponent).join("/");
}

/** The current project's record. */
export function currentProject(ctx) {
  return (ctx.state.projects || []).find((project) => project.id === ctx.state.projectId) || null;
}

/** A page's title block: <h1>, an optional line under it, and actions on the right. */
export function pageHeader(title, subtitle, ...actions) {
  return h("div", { class: "page-header" },
    h("div", {}, h("h1", {}, title), subtitle ? h("p", { class: "subtitle" }, subtitle) : null),
    actions.length ? h("div", { class: "page-actions" }, actions) : null);
}

const STATUS_KIND = {
  queued: "neutral", pending: "neutral", registered: "neutral", running: "active", ingesting: "active",
  succeeded: "ok", done: "ok", ready: "ok", reused: "ok", "skipped-reused": "ok", skipped: "neutral",
  failed: "bad", cancelled: "warn", canceled: "warn",
};

/** A coloured status word. */
export function statusBadge(status) {
  const value = String(status || "unknown").toLowerCase();
  return h("span", { class: ["badge", `badge-${STATUS_KIND[value] || "neutral"}`] }, value.replace(/_/g, " "));
}

/** The note shown where the API does not offer an endpoint yet (404 "no route" or 405). */
export function unavailableNote(what, error) {
  return message("info", h("strong", {}, `${what} is not available from this API yet. `),
    `${error.method} ${error.path.replace(/\?.*$/, "")} answered ${error.status}; `,
    "the console will use it as soon as the server offers it.");
}

/** The message for a failed call: "not available" for missing endpoints, else the problem's detail. */
export function errorNote(what, error) {
  if (error && error.unavailable) return unavailableNote(what, error);
  return message("error", h("strong", {}, `${what}: `), describeError(error));
}

/** A definition list from [term, value] pairs (null values skipped). */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, v]) => v !== null && v !== undefined)
    .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

/** A details/summary block. */
export function disclosure(summary, ...children) {
  return h("details", { class: "disclosure" }, h("summary", {}, summary), children);
}
