// One prediction job: progress, a preview of the predictions, and their download as CSV or Parquet.

import { h, fill, message, section, announce } from "../dom.js";
import { dataTable } from "../table_view.js";
import { duration, num, shortId, time } from "../format.js";
import { p, statusBadge, errorNote, facts } from "./common.js";
import { stepsOf } from "./training_job.js";

const ACTIVE = new Set(["queued", "running"]);

/** {columns, rows (arrays)} from a preview answer: {columns, rows}, {items: [objects]}, or a list of objects. */
export function previewRows(answer) {
  if (!answer) return { columns: [], rows: [] };
  const list = Array.isArray(answer) ? answer : (answer.items || answer.rows || []);
  if (answer.columns && list.length && Array.isArray(list[0])) return { columns: answer.columns.map(String), rows: list };
  const columns = answer.columns ? answer.columns.map((c) => (typeof c === "string" ? c : c.name))
    : [...new Set(list.flatMap((row) => Object.keys(row)))];
  return { columns, rows: list.map((row) => columns.map((c) => row[c])) };
}

function cellText(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : num(value, 5);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function fileName(response, fallback) {
  const header = response.headers.get("Content-Disposition") || "";
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(header);
  return m ? decodeURIComponent(m[1]) : fallback;
}

export async function render(ctx) {
  const [id] = ctx.params;
  let job = await ctx.api.get(p(ctx, "prediction-jobs", id), undefined, ctx.signal);
  const optional = (path, params) => ctx.api.get(path, params, ctx.signal).then((value) => ({ value }), (error) => ({ error }));
  let preview = job.status === "succeeded" ? await optional(p(ctx, "prediction-jobs", id, "preview"), { limit: 100 }) : null;
  const box = { overview: h("div"), progress: h("div"), preview: h("div"), download: h("div"), downloadStatus: h("div", { "aria-live": "polite" }) };

  async function download(format, button) {
    button.disabled = true;
    try {
      const response = await ctx.api.raw(p(ctx, "prediction-jobs", id, "download"), { format }, ctx.signal);
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: fileName(response, `predictions-${shortId(id)}.${format}`), class: "visually-hidden" }, "download");
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      fill(box.downloadStatus, message("ok", `Downloaded ${format.toUpperCase()} (${num(blob.size)} bytes).`));
      announce(`Predictions downloaded as ${format}`);
    } catch (error) {
      fill(box.downloadStatus, errorNote(`Downloading ${format.toUpperCase()}`, error));
    } finally {
      button.disabled = false;
    }
  }

  function draw() {
    fill(box.overview, facts([
      ["Status", statusBadge(job.status)],
      ["Model of", h("a", { href: `#/jobs/training/${encodeURIComponent(job.training_job_id)}` }, `training job ${shortId(job.training_job_id)}`)],
      ["Anchor time", job.anchor_time ? time(job.anchor_time) : "the newest data"],
      ["Started", time(job.started_at)], ["Took", duration(job.started_at, job.finished_at)],
      ["Rows", job.outputs && job.outputs.rows != null ? num(job.outputs.rows) : null],
      ["Predictions", job.outputs && job.outputs.predictions ? h("code", { class: "wrap" }, job.outputs.predictions) : null],
    ]), job.error ? message("error", h("strong", {}, "The job failed: "), job.error) : "");
    const steps = stepsOf(job, null);
    fill(box.progress, steps.length ? h("ol", { class: "steps" }, steps.map((s) => h("li", { class: "step" },
      statusBadge(s.status), " ", h("code", {}, s.id), s.detail ? h("p", { class: "step-detail" }, s.detail) : null)))
      : h("p", { class: "muted" }, "No step reported yet."));
    if (!preview) {
      fill(box.preview, h("p", { class: "muted" }, ACTIVE.has(job.status) ? "The preview appears when the job has succeeded." : "No predictions to preview."));
    } else if (preview.error) {
      fill(box.preview, errorNote("The predictions preview", preview.error));
    } else {
      const { columns, rows } = previewRows(preview.value);
      fill(box.preview, preview.value.total_rows != null ? h("p", { class: "muted" }, `The first ${num(rows.length)} of ${num(preview.value.total_rows)} predictions.`) : null,
        dataTable({
        caption: "First predictions", rows, pageSize: 20, empty: "No prediction rows.",
        columns: columns.map((c, i) => ({ label: c, value: (row) => cellText(row[i]), numeric: typeof (rows[0] || [])[i] === "number" })),
      }));
    }
    const ready = job.status === "succeeded";
    const csv = h("button", { type: "button", class: "primary", disabled: !ready }, "Download CSV");
    const parquet = h("button", { type: "button", disabled: !ready }, "Download Parquet");
    csv.addEventListener("click", () => download("csv", csv));
    parquet.addEventListener("click", () => download("parquet", parquet));
    fill(box.download, h("div", { class: "button-row" }, csv, parquet));
  }

  function temporalLink() {
    const cfg = ctx.config();
    if (!job.workflow_id || !cfg.temporal_ui_url) return null;
    const url = `${cfg.temporal_ui_url}/namespaces/${encodeURIComponent(cfg.temporal_namespace || "default")}/workflows/${encodeURIComponent(job.workflow_id)}`;
    return h("a", { class: "button", href: url, target: "_blank", rel: "noopener noreferrer" }, "Workflow in Temporal UI");
  }

  draw();
  ctx.show(
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), " / prediction ", shortId(job.id)),
    h("div", { class: "page-header" }, h("div", {}, h("h1", {}, `Prediction job ${shortId(job.id)}`)), temporalLink()),
    h("div", { class: "columns" },
      h("div", { class: "stack" }, section("Overview", {}, box.overview), section("Progress", {}, box.progress)),
      h("div", { class: "stack" }, section("Download", {}, box.download, box.downloadStatus))),
    section("Preview", { class: "wide" }, box.preview),
  );
  ctx.every(2000, async () => {
    if (!ACTIVE.has(job.status)) return;
    job = await ctx.api.get(p(ctx, "prediction-jobs", id), undefined, ctx.signal);
    if (job.status === "succeeded") preview = await optional(p(ctx, "prediction-jobs", id, "preview"), { limit: 100 });
    draw();
  });
}
