// The console's shell: session (API key in sessionStorage), project switcher, hash routing, render timing.

import { createApi, describeError } from "./api.js";
import { h, fill, message } from "./dom.js";
import * as signin from "./views/signin.js";
import * as projects from "./views/projects.js";
import * as data from "./views/data.js";
import * as tableView from "./views/table.js";
import * as graph from "./views/graph.js";
import * as query from "./views/query.js";
import * as jobs from "./views/jobs.js";
import * as trainingJob from "./views/training_job.js";
import * as predictionJob from "./views/prediction_job.js";

const KEY_ITEM = "pq.apiKey";
const PROJECT_ITEM = "pq.projectId";

const state = {
  key: sessionStorage.getItem(KEY_ITEM),
  projectId: sessionStorage.getItem(PROJECT_ITEM),
  whoami: null,
  projects: null,
  config: null,
};

const api = createApi(() => state.key, () => {
  if (state.key) signOut("Your API key was not accepted any more; sign in again.");
});

/** Every render of a view: route, time from navigation to the page shown, and time to build the page. */
const timings = [];
window.pqConsole = { timings };

const ROUTES = [
  [/^projects$/, projects],
  [/^data$/, data],
  [/^data\/tables\/([^/]+)$/, tableView],
  [/^graph$/, graph],
  [/^graph\/([^/]+)$/, graph],
  [/^query$/, query],
  [/^query\/([^/]+)$/, query],
  [/^jobs$/, jobs],
  [/^jobs\/training\/([^/]+)$/, trainingJob],
  [/^jobs\/prediction\/([^/]+)$/, predictionJob],
];

const main = document.getElementById("main");
const nav = document.querySelector(".mainnav");
const sessionBox = document.querySelector(".session");
const switcher = document.getElementById("project-switcher");
let current = null;
let firstRender = true;

function signOut(note) {
  sessionStorage.removeItem(KEY_ITEM);
  state.key = null;
  state.whoami = null;
  state.projects = null;
  state.signOutNote = note || null;
  if (location.hash !== "#/signin") location.hash = "#/signin";
  else route();
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function setProject(id) {
  state.projectId = id;
  if (id) sessionStorage.setItem(PROJECT_ITEM, id);
  else sessionStorage.removeItem(PROJECT_ITEM);
}

async function loadSession(signal) {
  if (!state.config) {
    try { state.config = await api.get("/console/config.json", undefined, signal); } catch { state.config = {}; }
  }
  if (!state.whoami) state.whoami = await api.get("api-keys/me", undefined, signal);
  if (!state.projects) state.projects = await api.all("projects", undefined, signal);
  if (!state.projects.some((p) => p.id === state.projectId)) setProject(state.projects.length ? state.projects[0].id : null);
}

function drawShell(section) {
  const signedIn = Boolean(state.key && state.whoami);
  nav.hidden = !signedIn || !state.projectId;
  sessionBox.hidden = !signedIn;
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!signedIn) return;
  const options = (state.projects || []).map((p) => h("option", { value: p.id, selected: p.id === state.projectId }, p.name));
  options.push(h("option", { value: "__manage__" }, "Manage projects…"));
  switcher.replaceChildren(...options);
  if (!state.projectId) switcher.value = "__manage__";
}

switcher.addEventListener("change", () => {
  if (switcher.value === "__manage__") {
    navigate("#/projects");
    return;
  }
  setProject(switcher.value);
  const section = (location.hash.replace(/^#\/?/, "").split(/[/?]/)[0]) || "data";
  navigate(`#/${["data", "graph", "query", "jobs"].includes(section) ? section : "data"}`);
});
document.getElementById("sign-out").addEventListener("click", () => signOut("You are signed out."));
// The skip link must not change the hash: the hash is the route.
document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
  main.scrollIntoView();
});

/** Run the view of the current hash. */
async function route() {
  if (current) current.controller.abort();
  const controller = new AbortController();
  const started = performance.now();
  const [rawPath, search = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const path = decodeURIComponent(rawPath);
  const me = { controller };
  current = me;
  const ctx = {
    api, state, signal: controller.signal, navigate, query: new URLSearchParams(search), setProject, config: () => state.config || {},
    /** Show the view's content; measures the time to build and lay it out. */
    show(...nodes) {
      if (current !== me) return;
      const t0 = performance.now();
      fill(main, ...nodes);
      void main.offsetHeight; // force layout so the measure includes it
      const t1 = performance.now();
      const entry = { route: path || "/", renderMs: +(t1 - t0).toFixed(2), totalMs: +(t1 - started).toFixed(2) };
      timings.push(entry);
      main.dataset.route = entry.route;
      main.dataset.renderMs = String(entry.renderMs);
      const heading = main.querySelector("h1");
      if (heading) {
        heading.tabIndex = -1;
        document.title = `${heading.textContent} · Predictive Query`;
        if (!firstRender) heading.focus({ preventScroll: false });
      }
      firstRender = false;
    },
    /** Call fn every ms milliseconds until the view is left (the first call after ms). */
    every(ms, fn) {
      let timer = null;
      const tick = async () => {
        if (controller.signal.aborted) return;
        try { await fn(); } catch (error) { if (error.name !== "AbortError") console.warn(error); }
        if (!controller.signal.aborted) timer = setTimeout(tick, ms);
      };
      timer = setTimeout(tick, ms);
      controller.signal.addEventListener("abort", () => clearTimeout(timer));
    },
    reload: () => route(),
    signOut,
  };
  try {
    if (!state.key || path === "signin") {
      if (state.key && path === "signin") { navigate("#/data"); return; }
      drawShell(null);
      await signin.render(ctx);
      return;
    }
    await loadSession(controller.signal);
    const section = path.split("/")[0] || "data";
    drawShell(section);
    if (!state.projectId && path !== "projects") {
      navigate("#/projects");
      return;
    }
    for (const [pattern, view] of ROUTES) {
      const m = pattern.exec(path || "data");
      if (m) {
        await view.render({ ...ctx, params: m.slice(1) });
        return;
      }
    }
    ctx.show(h("h1", {}, "Page not found"), message("warning", `Nothing lives at #/${path}. `, h("a", { href: "#/data" }, "Go to the data")));
  } catch (error) {
    if (error.name === "AbortError") return;
    if (current !== me) return;
    ctx.show(h("h1", {}, "Something went wrong"), message("error", describeError(error)),
      h("p", {}, h("button", { type: "button", onclick: () => route() }, "Try again")));
  }
}

window.addEventListener("hashchange", route);
route();
