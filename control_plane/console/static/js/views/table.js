// One table: where it comes from, its keys, its columns with editable semantic types, statistics and histograms.

import { h, fill, field, message, section, select, announce } from "../dom.js";
import { describeError } from "../api.js";
import { dataTable } from "../table_view.js";
import { histogram, barChart, sparkHistogram } from "../charts.js";
import { num, pct, time } from "../format.js";
import { p, pageHeader, statusBadge, facts } from "./common.js";
import { STYPES, knownColumns, cleanColumn } from "./data.js";

export async function render(ctx) {
  const [id] = ctx.params;
  let table = await ctx.api.get(p(ctx, "tables", id), undefined, ctx.signal);
  const columnsBox = h("div");
  const detailBox = h("div", { id: "column-detail" });
  const stats = () => (table.statistics && table.statistics.columns) || {};

  function showColumn(name) {
    const st = stats()[name];
    const known = knownColumns(table).find((c) => c.name === name) || {};
    if (!st) {
      fill(detailBox, message("info", `No statistics for ${name} yet.`));
      return;
    }
    const parts = [facts([
      ["Data type", st.dtype || known.dtype || "—"], ["Semantic type", known.stype || st.stype || "—"], ["Non-null", num(st.count)],
      ["Nulls", `${num(st.nulls)} (${pct(st.null_fraction)})`], ["Distinct", num(st.distinct)],
      ["Min", st.min !== undefined ? String(st.min) : null], ["Max", st.max !== undefined ? String(st.max) : null],
      ["Mean", st.mean !== undefined ? num(st.mean) : null], ["Std", st.std !== undefined ? num(st.std) : null],
    ])];
    if (st.histogram && st.histogram.counts && st.histogram.counts.length) {
      parts.push(histogram(st.histogram, `Histogram of ${name}`, name));
    }
    const top = st.top_values || (st.items && st.items.top);
    if (top && top.length) {
      parts.push(barChart({ title: `Most frequent values of ${name}`, labels: top.map((t) => t.value),
        series: [{ name: "rows", values: top.map((t) => t.count) }], yLabel: "Rows" }));
    }
    fill(detailBox, section(`Column ${name}`, {}, parts));
    detailBox.scrollIntoView({ block: "nearest" });
  }

  async function setStype(column, stype) {
    const declared = (table.columns || []).map(cleanColumn);
    const existing = declared.find((c) => c.name === column);
    if (existing) {
      if (stype) existing.stype = stype;
      else delete existing.stype;
    } else if (stype) {
      declared.push({ name: column, stype });
    }
    try {
      table = await ctx.api.patch(p(ctx, "tables", table.id), { columns: declared });
      announce(`Semantic type of ${column} set to ${stype || "detected"}`);
      drawColumns(column);
    } catch (error) {
      columnsBox.prepend(message("error", `Could not change ${column}: ${describeError(error)}`));
    }
  }

  function drawColumns(focusColumn) {
    const rows = knownColumns(table);
    const s = stats();
    const list = dataTable({
      caption: "Columns", rows, pageSize: 50, empty: "No column known yet: declare some (Data page) or ingest the table.",
      columns: [
        { label: "Column", value: (c) => h("code", {}, c.name) },
        { label: "Data type", value: (c) => c.dtype || (s[c.name] && s[c.name].dtype) || h("span", { class: "muted" }, "detect") },
        { label: "Semantic type", value: (c) => {
          const detected = c.declared ? c.inferredStype : c.stype;
          const control = select([["", detected ? `detected (${detected})` : "detect"], ...STYPES],
            { "aria-label": `Semantic type of ${c.name}`, class: "stype-select", dataset: { column: c.name } }, c.declared ? (c.stype || "") : "");
          control.addEventListener("change", () => setStype(c.name, control.value));
          return control;
        } },
        ...(!table.statistics ? [] : [
        { label: "Nulls", numeric: true, value: (c) => (s[c.name] ? pct(s[c.name].null_fraction) : "—") },
        { label: "Distinct", numeric: true, value: (c) => (s[c.name] ? num(s[c.name].distinct) : "—") },
        { label: "Distribution", value: (c) => {
          const st = s[c.name];
          if (!st) return "—";
          const spark = st.histogram && st.histogram.counts ? sparkHistogram(st.histogram.counts, `Histogram of ${c.name}`) : null;
          return h("button", { type: "button", class: "small spark-button", "aria-label": `Statistics of ${c.name}`, onclick: () => showColumn(c.name) },
            spark || "Details");
        } }]),
      ],
    });
    fill(columnsBox, list);
    if (focusColumn) {
      const control = columnsBox.querySelector(`select[data-column="${CSS.escape(focusColumn)}"]`);
      if (control) control.focus();
    }
  }

  const keysStatus = h("div", { "aria-live": "polite" });
  const inferred = table.inferred || {};
  const detectedAs = (value) => (value ? `detect (found ${value})` : "detect");
  const pk = h("input", { name: "primary-key", value: table.primary_key || "", placeholder: detectedAs(inferred.primary_key), disabled: table.primary_key === "" });
  const noPk = h("input", { type: "checkbox", name: "no-primary-key", checked: table.primary_key === "" });
  const timeColumn = h("input", { name: "time-column", value: table.time_column || "", placeholder: detectedAs(inferred.time_column), disabled: table.time_column === "" });
  const isStatic = h("input", { type: "checkbox", name: "static-table", checked: table.time_column === "" });
  noPk.addEventListener("change", () => { pk.disabled = noPk.checked; });
  isStatic.addEventListener("change", () => { timeColumn.disabled = isStatic.checked; });
  const keysForm = h("form", { "aria-label": "Keys" },
    h("div", { class: "field-row" },
      h("div", {}, field("Primary key", pk, "Empty: detected at ingestion."), h("label", { class: "check" }, noPk, " No primary key")),
      h("div", {}, field("Time column", timeColumn, "Empty: detected at ingestion."), h("label", { class: "check" }, isStatic, " Static table"))),
    h("button", { type: "submit" }, "Save keys"), keysStatus);
  keysForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      table = await ctx.api.patch(p(ctx, "tables", table.id), {
        primary_key: noPk.checked ? "" : (pk.value.trim() || null),
        time_column: isStatic.checked ? "" : (timeColumn.value.trim() || null),
      });
      fill(keysStatus, message("ok", "Keys saved."));
    } catch (error) {
      fill(keysStatus, message("error", describeError(error)));
    }
  });

  const deleteButton = h("button", { type: "button", class: "danger" }, "Delete table");
  deleteButton.addEventListener("click", async () => {
    if (!window.confirm(`Delete table ${table.name}? Its source files stay where they are.`)) return;
    try {
      await ctx.api.del(p(ctx, "tables", table.id));
      ctx.navigate("#/data");
    } catch (error) {
      fill(keysStatus, message("error", describeError(error)));
    }
  });

  drawColumns();
  const st = table.statistics;
  fill(detailBox, section("Statistics", {}, st
    ? h("p", { class: "muted" }, "Choose a column's distribution above to see its histogram or most frequent values.")
    : message("info", "Statistics and histograms appear once the table is ingested (a training job ingests the tables it uses).")));
  ctx.show(
    h("p", { class: "crumbs" }, h("a", { href: "#/data" }, "Data"), " / ", table.name),
    pageHeader(`Table ${table.name}`, table.source_uri, statusBadge(table.status), deleteButton),
    section("Columns", {}, columnsBox),
    h("div", { class: "columns" },
      h("div", { class: "stack" }, detailBox),
      h("div", { class: "stack" },
        section("Source and keys", {}, facts([
          ["Path", h("code", {}, table.path)], ["Rows", num(table.row_count ?? (st && st.rows))],
          ["Time range", st && st.time_range ? `${time(st.time_range.min)} to ${time(st.time_range.max)}` : null],
          ["Ingested to", table.ingested_uri ? h("code", { class: "wrap" }, table.ingested_uri) : null],
          ["Format options", formatOptions(table.format_options)],
          ["Updated", time(table.updated_at)],
        ]), keysForm))),
  );
}

function formatOptions(options) {
  const set = Object.entries(options || {}).filter(([key, value]) => value !== null && value !== undefined
    && !(key === "infer_types" && value === true) && !(key === "type_threshold" && value === 1));
  return set.length ? h("code", { class: "wrap" }, set.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", "))
    : h("span", { class: "muted" }, "detected at ingestion");
}
