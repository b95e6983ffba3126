// Graphs: choose tables, declare or accept suggested links, see the diagram, validate live, save versions.

import { h, fill, field, message, section, select, uid, announce } from "../dom.js";
import { describeError } from "../api.js";
import { graphDiagram } from "../graph_diagram.js";
import { dataTable } from "../table_view.js";
import { num, time } from "../format.js";
import { p, pageHeader, errorNote } from "./common.js";
import { knownColumns } from "./data.js";

const sameLink = (a, b) => a.source_table === b.source_table && a.source_column === b.source_column;

export async function render(ctx) {
  const [wanted] = ctx.params;
  const [graphs, tables] = await Promise.all([
    ctx.api.all(p(ctx, "graphs"), undefined, ctx.signal),
    ctx.api.all(p(ctx, "tables"), undefined, ctx.signal),
  ]);
  // #/graph opens the newest graph; #/graph/new starts a new one.
  const graphId = wanted === "new" ? null : (wanted || (graphs.length ? graphs[graphs.length - 1].id : null));
  const graph = graphId ? await ctx.api.get(p(ctx, "graphs", graphId), undefined, ctx.signal) : null;
  const tableByName = new Map(tables.map((t) => [t.name, t]));
  const state = {
    tables: new Set(graph ? graph.tables.map((t) => t.name) : tables.map((t) => t.name)),
    links: graph ? graph.links.map((l) => ({ ...l })) : [],
    suggestions: [],
  };

  const diagramBox = h("div", { class: "diagram", tabindex: "0", role: "region", "aria-label": "Graph diagram (scrolls sideways on narrow screens)" });
  const linksBox = h("div");
  const suggestionsBox = h("div", { "aria-live": "polite" });
  const validationBox = h("div", { "aria-live": "polite" });
  const addLinkBox = h("div");
  let validateTimer = null;
  let validateSeq = 0;

  function chosen() { return tables.map((t) => t.name).filter((n) => state.tables.has(n)); }

  function drawDiagram() {
    const names = chosen();
    if (!names.length) {
      fill(diagramBox, message("info", "Choose the graph's tables."));
      return;
    }
    fill(diagramBox, graphDiagram({
      title: graph ? `Graph ${graph.name}` : "New graph",
      tables: names.map((n) => {
        const t = tableByName.get(n);
        return { name: n, primary_key: t.primary_key ?? (t.inferred && t.inferred.primary_key), time_column: t.time_column ?? (t.inferred && t.inferred.time_column), columns: knownColumns(t).length };
      }),
      links: [...state.links, ...state.suggestions.map((l) => ({ ...l, suggested: true }))],
    }));
  }

  function drawLinks() {
    fill(linksBox, state.links.length ? h("ul", { class: "link-list" }, state.links.map((link, i) => h("li", {},
      h("code", {}, `${link.source_table}.${link.source_column}`), " → ", h("code", {}, link.target_table + (link.target_column ? `.${link.target_column}` : "")), " ",
      h("button", { type: "button", class: "small", "aria-label": `Remove link ${link.source_table}.${link.source_column} to ${link.target_table}`,
        onclick: () => { state.links.splice(i, 1); changed(); announce("Link removed"); } }, "Remove"))))
      : h("p", { class: "muted" }, "No link yet: accept suggestions or add one."));
  }

  function drawSuggestions() {
    const open = state.suggestions;
    if (!open.length) {
      fill(suggestionsBox, h("p", { class: "muted" }, "No suggestion for these tables."));
      return;
    }
    const acceptAll = h("button", { type: "button", class: "primary", onclick: () => {
      state.links.push(...open.map(({ source_table, source_column, target_table, target_column }) => ({ source_table, source_column, target_table, target_column })));
      state.suggestions = [];
      changed();
      announce(`${open.length} suggested links accepted`);
    } }, `Accept all ${open.length}`);
    fill(suggestionsBox, h("ul", { class: "link-list" }, open.map((sug) => h("li", {},
      h("code", {}, `${sug.source_table}.${sug.source_column}`), " → ", h("code", {}, `${sug.target_table}.${sug.target_column}`),
      h("span", { class: "score", title: sug.reasons.join("; ") }, ` score ${num(sug.score, 2)}`), " ",
      h("button", { type: "button", class: "small", "aria-label": `Accept link ${sug.source_table}.${sug.source_column} to ${sug.target_table}`,
        onclick: () => {
          state.links.push({ source_table: sug.source_table, source_column: sug.source_column, target_table: sug.target_table, target_column: sug.target_column });
          state.suggestions = state.suggestions.filter((x) => !sameLink(x, sug));
          changed();
          announce("Suggested link accepted");
        } }, "Accept"),
      h("p", { class: "reasons" }, sug.reasons.join("; "))))), h("div", { class: "button-row" }, acceptAll));
  }

  async function suggest() {
    const names = chosen();
    if (!names.length) { state.suggestions = []; drawSuggestions(); return; }
    try {
      const found = await ctx.api.post(p(ctx, "graphs", "link-suggestions"), { tables: names }, ctx.signal);
      state.suggestions = found.filter((sug) => !state.links.some((l) => sameLink(l, sug)));
    } catch (error) {
      if (error.name === "AbortError") return;
      fill(suggestionsBox, errorNote("Link suggestions", error));
      return;
    }
    drawSuggestions();
    drawDiagram();
  }

  function drawAddLink() {
    const names = chosen();
    const source = select(names, { name: "link-source-table" }, names[0]);
    const column = h("input", { name: "link-source-column", list: uid("cols"), required: true, maxlength: 100 });
    const columnList = h("datalist", { id: column.getAttribute("list") });
    const target = select(names, { name: "link-target-table" }, names[1] || names[0]);
    const fillColumns = () => {
      const t = tableByName.get(source.value);
      fill(columnList, ...(t ? knownColumns(t).map((c) => h("option", { value: c.name })) : []));
    };
    source.addEventListener("change", fillColumns);
    fillColumns();
    const form = h("form", { class: "inline-form", "aria-label": "Add a link" },
      h("div", { class: "field-row" }, field("From table", source), field("Foreign key column", column), columnList, field("To table", target)),
      h("button", { type: "submit" }, "Add link"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const link = { source_table: source.value, source_column: column.value.trim(), target_table: target.value };
      if (!link.source_column) return;
      state.links = state.links.filter((l) => !sameLink(l, link));
      state.links.push(link);
      state.suggestions = state.suggestions.filter((x) => !sameLink(x, link));
      changed();
      announce(`Link ${link.source_table}.${link.source_column} to ${link.target_table} added`);
      column.value = "";
    });
    fill(addLinkBox, names.length ? form : "");
  }

  function scheduleValidation() {
    clearTimeout(validateTimer);
    validateTimer = setTimeout(validate, 250);
  }

  async function validate() {
    const seq = ++validateSeq;
    const names = chosen();
    if (!names.length) { fill(validationBox, message("warning", "A graph needs at least one table.")); return; }
    try {
      const result = await ctx.api.post(p(ctx, "graphs", "validate"), { tables: names, links: state.links }, ctx.signal);
      if (seq !== validateSeq) return;
      const items = [...result.errors.map((e) => ["error", e]), ...result.warnings.map((w) => ["warning", w])];
      fill(validationBox, 
        result.valid ? message("ok", `Valid: ${names.length} tables, ${state.links.length} links${result.warnings.length ? `, ${result.warnings.length} warning(s)` : ""}.`)
          : message("error", `Invalid: ${result.errors.length} error(s).`),
        items.length ? h("ul", { class: "findings" }, items.slice(0, 30).map(([kind, f]) => h("li", { class: kind },
          h("strong", {}, kind === "error" ? "Error: " : "Warning: "), f.message, f.hint ? h("span", { class: "hint" }, ` — ${f.hint}`) : null))) : null);
    } catch (error) {
      if (error.name === "AbortError" || seq !== validateSeq) return;
      fill(validationBox, errorNote("Validation", error));
    }
  }

  function changed({ tablesChanged = false } = {}) {
    drawLinks();
    drawSuggestions();
    drawDiagram();
    if (tablesChanged) { drawAddLink(); suggest(); }
    scheduleValidation();
  }

  const tableChecks = h("fieldset", { class: "checks" }, h("legend", {}, "Tables in the graph"),
    tables.length ? tables.map((t) => {
      const box = h("input", { type: "checkbox", name: "graph-table", value: t.name, checked: state.tables.has(t.name) });
      box.addEventListener("change", () => {
        if (box.checked) state.tables.add(t.name);
        else {
          state.tables.delete(t.name);
          state.links = state.links.filter((l) => l.source_table !== t.name && l.target_table !== t.name);
        }
        changed({ tablesChanged: true });
      });
      return h("label", { class: "check" }, box, " ", t.name);
    }) : message("info", "No table registered yet: ", h("a", { href: "#/data" }, "register tables first"), "."));

  const name = h("input", { name: "graph-name", required: true, maxlength: 100, value: graph ? graph.name : "", pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*" });
  const saveStatus = h("div", { "aria-live": "polite" });
  const saveForm = h("form", { class: "inline-form", "aria-label": "Save the graph" },
    field("Graph name", name), h("button", { type: "submit", class: "primary" }, graph ? "Save new version" : "Create graph"), saveStatus);
  saveForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { tables: chosen(), links: state.links };
    try {
      const saved = graph
        ? await ctx.api.patch(p(ctx, "graphs", graph.id), { ...body, name: name.value.trim() })
        : await ctx.api.post(p(ctx, "graphs"), { ...body, name: name.value.trim() });
      announce(`Graph ${saved.name} saved, version ${saved.version}`);
      if (graph) ctx.reload();
      else ctx.navigate(`#/graph/${encodeURIComponent(saved.id)}`);
    } catch (error) {
      fill(saveStatus, message("error", describeError(error)));
    }
  });

  const graphList = dataTable({
    caption: "Graphs", rows: graphs, empty: "No graph yet.", pageSize: 10,
    columns: [
      { label: "Name", value: (g) => h("a", { href: `#/graph/${encodeURIComponent(g.id)}`, "aria-current": g.id === graphId ? "page" : null }, g.name) },
      { label: "Version", value: (g) => num(g.version), numeric: true },
      { label: "Tables", value: (g) => num(g.tables.length), numeric: true },
      { label: "Updated", value: (g) => time(g.updated_at) },
    ],
  });

  drawLinks();
  drawSuggestions();
  drawDiagram();
  drawAddLink();
  ctx.show(
    pageHeader(graph ? `Graph ${graph.name}` : "New graph",
      graph ? `Version ${graph.version}: ${graph.tables.length} tables, ${graph.links.length} links.` : "Choose tables and links; the graph is validated as you go.",
      graph ? h("a", { class: "button", href: "#/graph/new" }, "New graph") : null,
      graph ? h("a", { class: "button", href: `#/query?graph=${encodeURIComponent(graph.id)}` }, "Write a query") : null),
    section("Diagram", { class: "wide" }, diagramBox,
      h("p", { class: "legend-note muted" }, "Arrows go from the referencing table to the referenced one; dashed arrows are suggestions.")),
    h("div", { class: "columns" },
      h("div", { class: "stack" },
        section("Tables and links", {}, tableChecks, h("h3", {}, "Links"), linksBox, addLinkBox),
        section("Suggested links", {}, suggestionsBox)),
      h("div", { class: "stack" },
        section("Validation", {}, validationBox, saveForm),
        section("All graphs", {}, graphList))),
  );
  suggest();
  validate();
}
