// The query editor: PQL with highlighting, live validation (underline + hint), task type and explained plan;
// saving a pquery and starting its training.

import { h, fill, field, message, section, select, uid, announce } from "../dom.js";
import { ApiError, describeError } from "../api.js";
import { createEditor } from "../editor.js";
import { errorRange } from "../pql.js";
import { dataTable } from "../table_view.js";
import { metricName, time, words } from "../format.js";
import { p, pageHeader, errorNote } from "./common.js";

export const RUN_MODES = [["fast", "fast (a few small trials)"], ["normal", "normal"], ["best", "best (more trials, longer)"]];
const DEBOUNCE_MS = 350;

export async function render(ctx) {
  const [pqueryId] = ctx.params;
  const [graphs, pqueries, stored] = await Promise.all([
    ctx.api.all(p(ctx, "graphs"), undefined, ctx.signal),
    ctx.api.all(p(ctx, "pqueries"), undefined, ctx.signal),
    pqueryId ? ctx.api.get(p(ctx, "pqueries", pqueryId), undefined, ctx.signal) : Promise.resolve(null),
  ]);
  let saved = stored;
  const statusId = uid("pql-status");
  const status = h("div", { id: statusId, class: "pql-status", "aria-live": "polite" });
  const result = h("div", { class: "pql-result" });
  const resultHint = () => fill(result, h("p", { class: "muted" }, "The task type, metrics and plan appear when the query is valid."));
  const trainStatus = h("div", { "aria-live": "polite" });
  const wanted = (stored && stored.graph_id) || ctx.query.get("graph") || (graphs[0] && graphs[0].id);
  const graphSelect = select(graphs.map((g) => [g.id, `${g.name} (v${g.version})`]), { name: "graph" }, wanted);
  let timer = null;
  let seq = 0;
  let inflight = null;

  const editor = createEditor({
    value: stored ? stored.text : "", label: "Predictive query (PQL)", describedBy: statusId,
    onInput: () => schedule(),
  });
  editor.textarea.name = "pql";

  function schedule() {
    clearTimeout(timer);
    // An answer for older text must not mark the new text: forget it now, not when the next request leaves.
    seq += 1;
    if (inflight) inflight.abort();
    timer = setTimeout(validate, DEBOUNCE_MS);
    status.dataset.state = "pending";
  }
  ctx.signal.addEventListener("abort", () => { clearTimeout(timer); if (inflight) inflight.abort(); }, { once: true });

  function showResult(compiled) {
    fill(result, 
      h("p", {}, h("span", { class: "badge badge-task", "data-task-type": compiled.task_type }, words(compiled.task_type)),
        " for each ", h("code", {}, compiled.entity)),
      h("p", {}, "Metrics: ", compiled.metrics.map((m, i) => [i ? ", " : "", h("span", { class: i === 0 ? "metric-main" : null }, metricName(m))]),
        h("span", { class: "muted" }, " (the first selects the model)")),
      h("h3", {}, "Plan"),
      h("pre", { class: "explain", tabindex: "0", "aria-label": "Explained plan" }, compiled.explain));
  }

  async function validate() {
    const text = editor.value;
    const mySeq = ++seq;
    if (inflight) inflight.abort();
    if (!text.trim()) {
      editor.setError(null);
      fill(status, h("p", { class: "muted" }, "Write a query: PREDICT … FOR EACH table.key"));
      status.dataset.state = "empty";
      resultHint();
      return;
    }
    if (!graphSelect.value) {
      fill(status, message("warning", "Create a graph first: queries compile against a graph's schema."));
      status.dataset.state = "no-graph";
      return;
    }
    inflight = new AbortController();
    try {
      const compiled = await ctx.api.request("POST", p(ctx, "pqueries", "validate"),
        { body: { graph_id: graphSelect.value, text }, signal: inflight.signal });
      if (mySeq !== seq) return;
      editor.setError(null);
      fill(status, message("ok", "Valid query."));
      status.dataset.state = "valid";
      showResult(compiled);
    } catch (error) {
      if (error.name === "AbortError" || mySeq !== seq) return;
      resultHint();
      if (error instanceof ApiError && error.position) {
        const pos = error.position;
        const range = errorRange(text, pos);
        const pr = error.problem;
        editor.setError(range, pr.hint ? `${pr.detail} — ${pr.hint}` : pr.detail);
        fill(status, message("error",
          h("strong", {}, `Line ${pos.line}, column ${pos.column}: `), h("span", { class: "pql-message" }, pr.detail),
          pr.hint ? h("p", { class: "hint" }, "Hint: ", h("span", { class: "pql-hint" }, pr.hint)) : null,
          pr.snippet ? h("pre", { class: "snippet", "aria-hidden": "true" }, pr.snippet) : null));
        status.dataset.state = "invalid";
      } else if (error instanceof ApiError && error.status === 409) {
        editor.setError(null);
        const findings = (error.problem.errors || []).slice(0, 8);
        fill(status, message("warning", h("strong", {}, "The graph is not ready for queries: "), describeError(error),
          findings.length ? h("ul", {}, findings.map((f) => h("li", {}, f.message, f.hint ? ` — ${f.hint}` : ""))) : null));
        status.dataset.state = "graph-not-ready";
      } else {
        editor.setError(null);
        fill(status, errorNote("Validation", error));
        status.dataset.state = "error";
      }
    }
  }
  graphSelect.addEventListener("change", () => validate());

  const name = h("input", { name: "pquery-name", required: true, maxlength: 100, value: saved ? saved.name : "", pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*" });
  const saveStatus = h("div", { "aria-live": "polite" });
  const saveForm = h("form", { class: "inline-form", "aria-label": "Save the query" },
    h("div", { class: "field-row" }, field("Query name", name),
      h("div", { class: "field field-button" }, h("button", { type: "submit" }, saved ? "Save changes" : "Save query"))), saveStatus);
  saveForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      saved = saved
        ? await ctx.api.patch(p(ctx, "pqueries", saved.id), { name: name.value.trim(), text: editor.value })
        : await ctx.api.post(p(ctx, "pqueries"), { name: name.value.trim(), text: editor.value, graph_id: graphSelect.value });
      fill(saveStatus, message("ok", `Saved as ${saved.name}.`));
      announce(`Query ${saved.name} saved`);
      if (!pqueryId) history.replaceState(null, "", `#/query/${encodeURIComponent(saved.id)}`);
      drawList(await ctx.api.all(p(ctx, "pqueries"), undefined, ctx.signal));
    } catch (error) {
      fill(saveStatus, message("error", describeError(error)));
    }
  });

  const runMode = select(RUN_MODES, { name: "run-mode" }, "fast");
  const trainForm = h("form", { class: "inline-form", "aria-label": "Train" },
    h("div", { class: "field-row" }, field("Run mode", runMode),
      h("div", { class: "field field-button" }, h("button", { type: "submit", class: "primary" }, "Start training"))), trainStatus);
  trainForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!saved || saved.text !== editor.value) {
      fill(trainStatus, message("warning", saved ? "The text changed since it was saved: save the query first." : "Save the query first: training runs a saved query."));
      return;
    }
    fill(trainStatus, h("p", {}, "Starting…"));
    try {
      const job = await ctx.api.post(p(ctx, "training-jobs"), { pquery_id: saved.id, run_mode: runMode.value });
      announce("Training started");
      ctx.navigate(`#/jobs/training/${encodeURIComponent(job.id)}`);
    } catch (error) {
      fill(trainStatus, errorNote("Starting a training job", error));
    }
  });

  const graphName = new Map(graphs.map((g) => [g.id, g.name]));
  const listBox = h("div");
  const drawList = (rows) => fill(listBox, dataTable({
    caption: "Saved queries", rows, pageSize: 10, empty: "No saved query yet.",
    columns: [
      { label: "Name", value: (q) => h("a", { href: `#/query/${encodeURIComponent(q.id)}`, "aria-current": q.id === pqueryId ? "page" : null }, q.name) },
      { label: "Task", value: (q) => words(q.task_type) },
      { label: "Graph", value: (q) => `${graphName.get(q.graph_id) || q.graph_id} v${q.graph_version}` },
      { label: "Jobs", value: (q) => h("a", { href: `#/jobs?pquery=${encodeURIComponent(q.id)}`, "aria-label": `Training jobs of ${q.name}` }, "jobs") },
      { label: "Updated", value: (q) => time(q.updated_at) },
    ],
  }));
  drawList(pqueries);

  ctx.show(
    pageHeader(saved ? `Query ${saved.name}` : "New query", "Write one line of PQL; it is checked against the graph as you type.",
      saved ? h("a", { class: "button", href: "#/query" }, "New query") : null),
    h("div", { class: "columns" },
      h("div", { class: "stack" },
        section("Predictive query", {}, field("Graph", graphSelect),
          h("div", { class: "field" }, h("span", { class: "label", "aria-hidden": "true" }, "PQL"), editor.element), status,
          h("details", { class: "disclosure" }, h("summary", {}, "PQL in brief"),
            h("pre", { class: "cheatsheet" }, "PREDICT <target> [RANK TOP k | CLASSIFY] [FORECAST n TIMEFRAMES]\n" +
              "FOR EACH table.primary_key   [WHERE <condition>]   [ASSUMING <condition>]\n\n" +
              "target: table.column | AGG(table.column|table.*, start, end[, unit]) [comparison]\n" +
              "AGG: COUNT COUNT_DISTINCT SUM AVG MIN MAX FIRST LAST LIST_DISTINCT\n" +
              "units: seconds minutes hours days weeks months"))),
        section("Save and train", {}, saveForm, trainForm)),
      h("div", { class: "stack" },
        section("Task and plan", {}, result),
        section("Saved queries", {}, listBox))),
  );
  if (!graphs.length) fill(status, message("warning", "No graph yet: ", h("a", { href: "#/graph" }, "build one"), " first."));
  else validate();
}
