// Jobs: the project's training and prediction jobs and graph updates, newest state polled while any runs.

import { h, section } from "../dom.js";
import { remoteTable } from "../table_view.js";
import { duration, metricName, num, shortId, time } from "../format.js";
import { p, pageHeader, statusBadge } from "./common.js";

const ACTIVE = new Set(["queued", "running"]);

/** The main metric of a job: the first of its pquery's metrics, from the job's metrics. */
export function mainMetric(job, pquery) {
  const metrics = job.metrics || {};
  const model = metrics.gnn || metrics.model || metrics;
  const name = (pquery && pquery.metrics && pquery.metrics[0]) || Object.keys(model).find((k) => typeof model[k] === "number");
  if (!name || typeof model[name] !== "number") return "—";
  return `${metricName(name)} ${num(model[name], 3)}`;
}

/** The step an update is at: the running one, else the last one finished. */
function stepNow(update) {
  const steps = update.progress || [];
  const running = steps.find((s) => s.status === "running");
  if (running) return `${running.step} (running)`;
  const finished = steps.filter((s) => s.status !== "pending" && s.status !== "skipped");
  return finished.length ? `${finished[finished.length - 1].step} (${finished[finished.length - 1].status})` : "—";
}

export async function render(ctx) {
  const pqueryFilter = ctx.query.get("pquery") || undefined;
  const pqueries = await ctx.api.all(p(ctx, "pqueries"), undefined, ctx.signal);
  const byId = new Map(pqueries.map((q) => [q.id, q]));
  let active = false;
  const training = remoteTable({
    caption: "Training jobs", pageSize: 20, empty: "No training job yet: save a query and start training.",
    load: async (limit, offset) => {
      const page = await ctx.api.get(p(ctx, "training-jobs"), { limit, offset, pquery_id: pqueryFilter }, ctx.signal);
      active = active || page.items.some((j) => ACTIVE.has(j.status));
      return page;
    },
    columns: [
      { label: "Job", value: (j) => h("a", { href: `#/jobs/training/${encodeURIComponent(j.id)}`, "aria-label": `Training job ${shortId(j.id)}` }, shortId(j.id)) },
      { label: "Query", value: (j) => (byId.get(j.pquery_id) ? h("a", { href: `#/query/${encodeURIComponent(j.pquery_id)}` }, byId.get(j.pquery_id).name) : shortId(j.pquery_id)) },
      { label: "Status", value: (j) => statusBadge(j.status) },
      { label: "Mode", value: (j) => j.run_mode },
      { label: "Result", value: (j) => mainMetric(j, byId.get(j.pquery_id)) },
      { label: "Started", value: (j) => time(j.started_at || j.created_at) },
      { label: "Took", value: (j) => duration(j.started_at, j.finished_at) },
    ],
  });
  const prediction = remoteTable({
    caption: "Prediction jobs", pageSize: 20, empty: "No prediction job yet: open a finished training job and predict.",
    load: async (limit, offset) => {
      const page = await ctx.api.get(p(ctx, "prediction-jobs"), { limit, offset }, ctx.signal);
      active = active || page.items.some((j) => ACTIVE.has(j.status));
      return page;
    },
    columns: [
      { label: "Job", value: (j) => h("a", { href: `#/jobs/prediction/${encodeURIComponent(j.id)}`, "aria-label": `Prediction job ${shortId(j.id)}` }, shortId(j.id)) },
      { label: "Model of", value: (j) => h("a", { href: `#/jobs/training/${encodeURIComponent(j.training_job_id)}` }, shortId(j.training_job_id)) },
      { label: "Status", value: (j) => statusBadge(j.status) },
      { label: "Anchor time", value: (j) => time(j.anchor_time) },
      { label: "Rows", value: (j) => num(j.outputs && j.outputs.rows), numeric: true },
      { label: "Started", value: (j) => time(j.started_at || j.created_at) },
    ],
  });
  const updates = remoteTable({
    caption: "Graph updates", pageSize: 10, empty: "No graph update yet: `pq refresh` brings a graph up to date with new source rows.",
    load: async (limit, offset) => {
      const page = await ctx.api.get(p(ctx, "graph-updates"), { limit, offset }, ctx.signal);
      active = active || page.items.some((u) => ACTIVE.has(u.status));
      return page;
    },
    columns: [
      { label: "Update", value: (u) => h("span", { title: u.id }, shortId(u.id)) },
      { label: "Status", value: (u) => statusBadge(u.status) },
      { label: "Changed tables", value: (u) => (u.changed_tables == null ? "—" : u.changed_tables.join(", ") || "none") },
      { label: "Step", value: (u) => stepNow(u) },
      { label: "Retrained", value: (u) => (u.training_job_id ? h("a", { href: `#/jobs/training/${encodeURIComponent(u.training_job_id)}`, "aria-label": `Retrained by the update: job ${shortId(u.training_job_id)}` }, shortId(u.training_job_id)) : "—") },
      { label: "Predicted", value: (u) => (u.prediction_job_id ? h("a", { href: `#/jobs/prediction/${encodeURIComponent(u.prediction_job_id)}`, "aria-label": `Predicted by the update: job ${shortId(u.prediction_job_id)}` }, shortId(u.prediction_job_id)) : "—") },
      { label: "Started", value: (u) => time(u.started_at || u.created_at) },
      { label: "Took", value: (u) => duration(u.started_at, u.finished_at) },
    ],
  });
  await Promise.all([training.ready, prediction.ready, updates.ready]);
  const filtered = pqueryFilter && byId.get(pqueryFilter);
  ctx.show(
    pageHeader("Jobs", filtered ? `Training jobs of query ${filtered.name}.` : "Training and prediction jobs of this project.",
      filtered ? h("a", { class: "button", href: "#/jobs" }, "All jobs") : null),
    section("Training jobs", {}, training.element),
    section("Prediction jobs", {}, prediction.element),
    section("Graph updates", {}, updates.element),
  );
  ctx.every(3000, async () => {
    if (!active) return;
    active = false;
    await Promise.all([training.reload(), prediction.reload(), updates.reload()]);
  });
}
