// Data: connectors (local folders, S3 prefixes), their files, and the tables registered from them.

import { h, fill, field, message, section, select, uid, announce } from "../dom.js";
import { describeError } from "../api.js";
import { dataTable } from "../table_view.js";
import { bytes, num } from "../format.js";
import { p, pageHeader, statusBadge, errorNote, currentProject } from "./common.js";

export const STYPES = ["ID", "numerical", "categorical", "multicategorical", "text", "timestamp"];
export const DTYPES = ["string", "int64", "float64", "bool", "timestamp", "date"];
/** Files a table can be read from: CSV-like text or Parquet, possibly compressed, or a part file in a folder. */
const TABLE_FILE = /\.(csv|tsv|txt|parquet|pq)(\.(gz|bz2|zst|zstd|lz4|snappy))?$|\/part-[^/]*$/i;

export async function render(ctx) {
  const [connectors, tables] = await Promise.all([
    ctx.api.all(p(ctx, "connectors"), undefined, ctx.signal),
    ctx.api.all(p(ctx, "tables"), undefined, ctx.signal),
  ]);
  const project = currentProject(ctx);
  const files = new Map(); // connector id -> files, once listed
  const registerPanel = h("div");
  const importPanel = h("div");
  const filesPanel = h("div", { id: "connector-files" });

  function openRegister(connector, file) {
    fill(registerPanel, registerForm(ctx, connectors, tables, connector, file));
    registerPanel.querySelector("input[name=table-name]").focus();
  }

  async function showFiles(connector) {
    fill(filesPanel, h("p", {}, `Listing the files of ${connector.name}…`));
    try {
      if (!files.has(connector.id)) files.set(connector.id, await ctx.api.all(p(ctx, "connectors", connector.id, "files"), undefined, ctx.signal));
    } catch (error) {
      fill(filesPanel, errorNote(`The files of ${connector.name}`, error));
      return;
    }
    const registered = new Set(tables.filter((t) => t.connector_id === connector.id).map((t) => t.path));
    fill(filesPanel, section(`Files in ${connector.name}`, { level: 3 }, dataTable({
      caption: `Files in ${connector.name}`, rows: files.get(connector.id), pageSize: 15,
      empty: "No files under this connector.",
      columns: [
        { label: "Path", value: (f) => h("code", {}, f.path) },
        { label: "Size", value: (f) => bytes(f.size), numeric: true },
        { label: "Table", rowHeader: false, value: (f) => (registered.has(f.path.replace(/^\/+|\/+$/g, ""))
          ? "registered" : !TABLE_FILE.test(f.path) ? h("span", { class: "muted" }, "not a table")
          : h("button", { type: "button", class: "small", "aria-label": `Register ${f.path} as a table`, onclick: () => openRegister(connector, f) }, "Register…")) },
      ],
    })));
    fill(importPanel, importForm(ctx, connector, files.get(connector.id), tables));
  }

  const connectorList = dataTable({
    caption: "Connectors", rows: connectors, empty: "No connector yet: add a folder or an S3 prefix below.",
    columns: [
      { label: "Name", value: (c) => c.name },
      { label: "Where", value: (c) => h("code", { class: "wrap" }, c.uri) },
      { label: "Files", rowHeader: false, value: (c) => h("button", { type: "button", class: "small", "aria-label": `Browse the files of ${c.name}`, onclick: () => showFiles(c) }, "Browse") },
    ],
  });

  const tableList = dataTable({
    caption: "Tables", rows: tables, pageSize: 25, empty: "No table yet: browse a connector's files and register them.",
    columns: [
      { label: "Name", value: (t) => h("a", { href: `#/data/tables/${encodeURIComponent(t.id)}` }, t.name) },
      { label: "Status", value: (t) => statusBadge(t.status) },
      { label: "Primary key", value: (t) => keyText(t.primary_key) },
      { label: "Time column", value: (t) => keyText(t.time_column, "static") },
      { label: "Columns", value: (t) => num(knownColumns(t).length), numeric: true },
      { label: "Rows", value: (t) => num(t.row_count), numeric: true },
    ],
  });

  ctx.show(
    pageHeader("Data", `Connectors and tables of project ${project ? project.name : ""}.`),
    h("div", { class: "columns" },
      h("div", { class: "stack" },
        section("Connectors", {}, connectorList, connectorForm(ctx)),
        filesPanel, registerPanel, importPanel),
      h("div", { class: "stack" }, section("Tables", {}, tableList,
        tables.length ? h("p", { class: "muted" }, "Open a table to see and edit its columns' semantic types, statistics and histograms.") : null))),
  );
  if (connectors.length === 1) showFiles(connectors[0]);
}

function keyText(value, none = "none") {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "detect");
  return value === "" ? h("span", { class: "muted" }, none) : h("code", {}, value);
}

/** The columns known of a table: inferred ones, with what the user declared winning. */
export function knownColumns(table) {
  const byName = new Map();
  for (const c of (table.inferred && table.inferred.columns) || []) byName.set(c.name, { ...c, declared: false });
  for (const c of table.columns || []) {
    const known = byName.get(c.name) || {};
    byName.set(c.name, { ...known, ...Object.fromEntries(Object.entries(c).filter(([, v]) => v !== null && v !== undefined)), declared: true,
      inferredStype: known.stype, inferredDtype: known.dtype });
  }
  return [...byName.values()];
}

function connectorForm(ctx) {
  const name = h("input", { name: "connector-name", required: true, maxlength: 100, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*" });
  const uri = h("input", { name: "connector-uri", required: true, placeholder: "/data/shop or s3://bucket/prefix" });
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "inline-form", "aria-label": "Add a connector" },
    h("h3", {}, "Add a connector"),
    h("div", { class: "field-row" }, field("Name", name), field("Folder or S3 URI", uri, "A local folder the API can read, or s3://bucket/prefix.")),
    h("button", { type: "submit" }, "Add connector"), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await ctx.api.post(p(ctx, "connectors"), { name: name.value.trim(), uri: uri.value.trim() });
      announce(`Connector ${name.value} added`);
      ctx.reload();
    } catch (error) {
      fill(status, message("error", describeError(error)));
    }
  });
  return form;
}

function stemOf(path) {
  const last = path.replace(/\/+$/, "").split("/").pop() || path;
  return last.replace(/\.(csv|tsv|txt|parquet|pq)(\.(gz|bz2|zst|zstd|lz4|snappy))?$/i, "").replace(/[^A-Za-z0-9_]/g, "_").replace(/^(\d)/, "_$1");
}

/** An editor of declared columns: name, semantic type and (optional) dtype per row. */
export function columnsEditor(initial = []) {
  const body = h("tbody");
  function addRow(col = {}) {
    const name = h("input", { class: "col-name", value: col.name || "", "aria-label": "Column name", maxlength: 100 });
    const stype = select([["", "detect"], ...STYPES], { class: "col-stype", "aria-label": "Semantic type" }, col.stype || "");
    const dtype = select([["", "detect"], ...DTYPES], { class: "col-dtype", "aria-label": "Data type" }, col.dtype || "");
    const remove = h("button", { type: "button", class: "small", "aria-label": "Remove this column" }, "Remove");
    const row = h("tr", {}, h("td", {}, name), h("td", {}, stype), h("td", {}, dtype), h("td", {}, remove));
    remove.addEventListener("click", () => { row.remove(); announce("Column removed"); });
    body.append(row);
    return name;
  }
  initial.forEach(addRow);
  const add = h("button", { type: "button", class: "small" }, "Add column");
  add.addEventListener("click", () => addRow().focus());
  const element = h("fieldset", { class: "columns-editor" }, h("legend", {}, "Declared columns (optional: ingestion detects the rest)"),
    h("div", { class: "table-scroll" }, h("table", { class: "data compact" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Column"), h("th", { scope: "col" }, "Semantic type"),
        h("th", { scope: "col" }, "Data type"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))), body)), add);
  return {
    element,
    value() {
      return [...body.rows].map((row) => ({
        name: row.querySelector(".col-name").value.trim(),
        stype: row.querySelector(".col-stype").value || null,
        dtype: row.querySelector(".col-dtype").value || null,
      })).filter((c) => c.name);
    },
  };
}

function registerForm(ctx, connectors, tables, connector, file) {
  const connectorSelect = select(connectors.map((c) => [c.id, c.name]), { name: "connector" }, connector.id);
  const path = h("input", { name: "table-path", required: true, value: file ? file.path : "" });
  const name = h("input", { name: "table-name", required: true, value: file ? stemOf(file.path) : "", pattern: "[A-Za-z_][A-Za-z0-9_]*", maxlength: 100 });
  const format = select([["", "detect"], "parquet", "csv"], { name: "table-format" }, "");
  const pk = h("input", { name: "primary-key", placeholder: "detect", maxlength: 100 });
  const noPk = h("input", { type: "checkbox", name: "no-primary-key" });
  const timeColumn = h("input", { name: "time-column", placeholder: "detect", maxlength: 100 });
  const isStatic = h("input", { type: "checkbox", name: "static-table" });
  noPk.addEventListener("change", () => { pk.disabled = noPk.checked; });
  isStatic.addEventListener("change", () => { timeColumn.disabled = isStatic.checked; });
  const cols = columnsEditor([]);
  const status = h("div", { "aria-live": "polite" });
  const headingId = uid("reg");
  const form = h("form", { class: "panel", "aria-labelledby": headingId },
    h("h2", { id: headingId }, "Register a table"),
    h("div", { class: "field-row" }, field("Connector", connectorSelect), field("Path", path, "A file or folder relative to the connector.")),
    h("div", { class: "field-row" }, field("Table name", name, "As PQL writes it: letters, digits and _."), field("Format", format)),
    h("div", { class: "field-row" },
      h("div", {}, field("Primary key", pk), h("label", { class: "check" }, noPk, " This table has no primary key")),
      h("div", {}, field("Time column", timeColumn), h("label", { class: "check" }, isStatic, " Static table (no time column)"))),
    cols.element,
    h("div", { class: "button-row" }, h("button", { type: "submit", class: "primary" }, "Register table"),
      h("button", { type: "button", onclick: () => form.remove() }, "Cancel")),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(), connector_id: connectorSelect.value, path: path.value.trim(),
      primary_key: noPk.checked ? "" : (pk.value.trim() || null),
      time_column: isStatic.checked ? "" : (timeColumn.value.trim() || null),
      columns: cols.value().map(cleanColumn),
    };
    if (format.value) body.format_options = { format: format.value };
    try {
      await ctx.api.post(p(ctx, "tables"), body);
      announce(`Table ${body.name} registered`);
      ctx.reload();
    } catch (error) {
      fill(status, message("error", describeError(error)));
    }
  });
  return form;
}

/** A column declaration as the API takes it (no nulls, no unknown keys). */
export function cleanColumn(c) {
  const out = { name: c.name };
  for (const key of ["dtype", "stype", "date_format", "unix_unit", "separator"]) if (c[key]) out[key] = c[key];
  return out;
}

function matchFile(name, fileList) {
  // customers.parquet, customers.csv(.gz), or a folder customers/ with part files.
  const direct = fileList.find((f) => stemOf(f.path) === name && !f.path.includes("/"));
  if (direct) return direct.path;
  const folder = fileList.find((f) => f.path.split("/")[0] === name && f.path.includes("/"));
  return folder ? name : null;
}

/** Read a PQL graph schema (schema.json) and register the tables it declares that the connector holds. */
function importForm(ctx, connector, fileList, tables) {
  const input = h("input", { type: "file", accept: ".json,application/json", name: "schema-file" });
  const review = h("div", { "aria-live": "polite" });
  const headingId = uid("imp");
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    let schema;
    try {
      schema = JSON.parse(await file.text());
      if (!schema || typeof schema.tables !== "object") throw new Error("it has no \"tables\" object");
    } catch (error) {
      fill(review, message("error", `${file.name} is not a graph schema: ${error.message}`));
      return;
    }
    const taken = new Set(tables.map((t) => t.name));
    const plan = Object.entries(schema.tables).map(([name, spec]) => ({
      name, path: matchFile(name, fileList), taken: taken.has(name),
      primary_key: spec.primary_key ?? "", time_column: spec.time_column ?? "",
      columns: Object.entries(spec.columns || {}).map(([col, t]) => cleanColumn(typeof t === "string" ? { name: col, stype: t } : { name: col, ...t })),
    }));
    const ready = plan.filter((t) => t.path && !t.taken);
    const results = h("ul", { class: "results" });
    const button = h("button", { type: "button", class: "primary", disabled: ready.length === 0 }, `Register ${ready.length} table${ready.length === 1 ? "" : "s"}`);
    button.addEventListener("click", async () => {
      button.disabled = true;
      let failed = 0;
      for (const t of ready) {
        try {
          await ctx.api.post(p(ctx, "tables"), { name: t.name, connector_id: connector.id, path: t.path,
            primary_key: t.primary_key, time_column: t.time_column, columns: t.columns });
          results.append(h("li", { class: "ok" }, `${t.name}: registered`));
        } catch (error) {
          failed += 1;
          results.append(h("li", { class: "bad" }, `${t.name}: ${describeError(error)}`));
        }
      }
      announce(failed ? `${failed} table(s) could not be registered` : "Tables registered");
      if (!failed) ctx.reload();
    });
    fill(review, dataTable({
      caption: `Tables in ${file.name}`, rows: plan, pageSize: 50,
      columns: [
        { label: "Table", value: (t) => t.name },
        { label: "Source", value: (t) => (t.path ? h("code", {}, t.path) : h("span", { class: "muted" }, "no matching file")) },
        { label: "Primary key", value: (t) => t.primary_key || "none" },
        { label: "Time column", value: (t) => t.time_column || "static" },
        { label: "Columns", value: (t) => num(t.columns.length), numeric: true },
        { label: "Action", value: (t) => (t.taken ? "already registered" : t.path ? "register" : "skip") },
      ],
    }), h("div", { class: "button-row" }, button), results);
  });
  return h("section", { class: "panel", "aria-labelledby": headingId },
    h("h2", { id: headingId }, "Import declarations"),
    h("p", {}, "Register every table of a PQL graph schema (a ", h("code", {}, "schema.json"), " such as the one ",
      h("code", {}, "pq demo-data"), " writes) from ", h("strong", {}, connector.name), ", with primary keys, time columns and semantic types declared."),
    field("Graph schema file", input), review);
}
