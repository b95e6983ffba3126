// One training job: live progress per workflow step, holdout metrics beside the baseline, the plots that fit
// the task, the AutoML trials with their training curves, and predictions made with its model.

import { h, fill, field, message, section, announce } from "../dom.js";
import { describeError } from "../api.js";
import { dataTable } from "../table_view.js";
import { barChart, calibrationChart, confusionMatrix, lineChart, prChart, rocChart, scatterChart, PALETTE } from "../charts.js";
import { duration, metricName, num, shortId, time, words } from "../format.js";
import { p, pageHeader, statusBadge, errorNote, facts } from "./common.js";

const ACTIVE = new Set(["queued", "running"]);
const POLL_MS = 2000;

/** Numbers of a metrics object: {metrics: {...}} or a flat {name: number}. */
export function flatMetrics(value) {
  if (!value || typeof value !== "object") return {};
  const inner = value.metrics && typeof value.metrics === "object" ? value.metrics : value;
  return Object.fromEntries(Object.entries(inner).filter(([, v]) => typeof v === "number" || v === null));
}

/**
 * GNN and baseline metrics from GET .../metrics ({model, baseline, comparison: [{metric, lift}], selection_metric}),
 * or from the job's own fields while that answer is missing.
 * @returns {{model: object, baseline: object, lift: object, selection: string|null}}
 */
export function metricSets(job, answer) {
  const lift = {};
  if (answer && (answer.model || answer.baseline || answer.gnn)) {
    for (const row of answer.comparison || []) if (typeof row.lift === "number") lift[row.metric] = row.lift;
    return { model: flatMetrics(answer.model || answer.gnn), baseline: flatMetrics(answer.baseline), lift,
      selection: answer.selection_metric || null };
  }
  const model = flatMetrics(job.metrics);
  const selection = job.metrics && typeof job.metrics.selection_metric === "string" ? job.metrics.selection_metric : null;
  return { model, baseline: flatMetrics(job.baseline), lift, selection };
}

const HOLDOUT_KEYS = ["roc", "pr", "calibration", "confusion", "predicted_vs_actual", "per_label_ap", "at_cutoff"];
const isHoldout = (c) => c && typeof c === "object" && HOLDOUT_KEYS.some((k) => k in c);

/**
 * [[label, holdout curves]] from GET .../curves: {trial_number, curves: {holdout: {...}, history: [...]}},
 * a {gnn|model, baseline} pair, or the holdout curves themselves (compute_engine.metrics.curves).
 */
export function curveSets(answer) {
  if (!answer || typeof answer !== "object") return [];
  const curves = answer.curves && typeof answer.curves === "object" ? answer.curves : answer;
  const model = curves.gnn || curves.model;
  if (model || curves.baseline) {
    return [["GNN", model], ["Baseline", curves.baseline]].map(([n, c]) => [n, c && isHoldout(c.holdout) ? c.holdout : c])
      .filter(([, c]) => isHoldout(c));
  }
  const holdout = isHoldout(curves.holdout) ? curves.holdout : curves;
  const label = answer.trial_number != null ? `GNN (trial ${answer.trial_number})` : "GNN";
  return isHoldout(holdout) ? [[label, holdout]] : [];
}

const EPOCH_FIELDS = new Set(["epoch", "seconds", "seeds_per_s"]);

/**
 * Per-epoch series of a trial's curves: {name: [values]} lists, or epoch records
 * ({epoch, train_loss, val_metrics: {...}}) under history, curves or epochs; holdout curves are left out.
 * @returns {Object<string, {x: number[], y: number[]}>}
 */
export function trainingSeries(curves) {
  const out = {};
  const add = (name, x, y) => {
    if (typeof y !== "number" || !Number.isFinite(y)) return;
    if (!out[name]) out[name] = { x: [], y: [] };
    out[name].x.push(x);
    out[name].y.push(y);
  };
  for (const [key, value] of Object.entries(curves || {})) {
    if (key === "holdout" || HOLDOUT_KEYS.includes(key)) continue;
    if (Array.isArray(value) && value.length && value.every((v) => typeof v === "number" || v === null)) {
      value.forEach((v, i) => add(key, i + 1, v));
    } else if (Array.isArray(value)) {
      value.forEach((record, i) => {
        if (!record || typeof record !== "object") return;
        const x = typeof record.epoch === "number" ? record.epoch : i + 1;
        for (const [name, v] of Object.entries(record)) {
          if (EPOCH_FIELDS.has(name)) continue;
          if (v && typeof v === "object") {
            for (const [metric, mv] of Object.entries(v)) add(`${name.replace(/_metrics$/, "")} ${metric}`, x, mv);
          } else add(name, x, v);
        }
      });
    } else if (value && typeof value === "object" && !isHoldout(value)) {
      for (const [name, series] of Object.entries(trainingSeries(value))) {
        series.x.forEach((x, i) => add(name, x, series.y[i]));
      }
    }
  }
  return out;
}

/** The steps of a job: the progress the workflow reports, or the plan's steps (pending) before it reports. */
export function stepsOf(job, pquery) {
  const entries = (job.progress || []).map((e) => ({
    id: e.step || e.id || e.name, status: e.status || e.state || "pending", started_at: e.started_at,
    finished_at: e.finished_at, detail: e.detail || e.message || "",
    fraction: typeof e.fraction === "number" ? e.fraction : null,
  }));
  if (entries.length) return entries;
  const plan = (pquery && pquery.plan && pquery.plan.steps) || [];
  return plan.map((s) => ({ id: s.id, status: "pending", engine: s.engine, detail: "" }));
}

function holdoutPlots(taskType, sets) {
  const colored = sets.map(([name, curves], i) => ({ name, curves, color: PALETTE[i], dash: i > 0 }));
  const plots = [];
  const with_ = (key) => colored.filter((c) => c.curves[key] && Object.keys(c.curves[key]).length);
  if (with_("roc").length) plots.push(rocChart(with_("roc").map((c) => ({ ...c, roc: c.curves.roc }))));
  if (with_("pr").length) plots.push(prChart(with_("pr").map((c) => ({ ...c, pr: c.curves.pr }))));
  if (with_("calibration").length) plots.push(calibrationChart(with_("calibration").map((c) => ({ ...c, calibration: c.curves.calibration }))));
  for (const c of with_("confusion")) plots.push(confusionMatrix(c.curves.confusion, `Confusion matrix (${c.name})`));
  for (const c of with_("predicted_vs_actual")) {
    const pva = c.curves.predicted_vs_actual;
    plots.push(scatterChart({ title: `Predicted vs actual (${c.name})`, actual: pva.actual, predicted: pva.predicted, group: pva.horizon }));
  }
  const ap = with_("per_label_ap");
  if (ap.length) {
    const labels = [...new Set(ap.flatMap((c) => Object.keys(c.curves.per_label_ap)))].sort((a, b) => Number(a) - Number(b));
    plots.push(barChart({ title: "Average precision per label", labels, xLabel: "Label", yLabel: "AP", yDomain: [0, 1],
      series: ap.map((c) => ({ name: c.name, color: c.color, values: labels.map((l) => c.curves.per_label_ap[l] ?? NaN) })) }));
  }
  const rank = with_("at_cutoff");
  if (rank.length) {
    const ks = rank[0].curves.at_cutoff.k;
    plots.push(barChart({ title: "MAP@k", labels: ks, xLabel: "k", yLabel: "MAP", yDomain: [0, Math.max(0.05, ...rank.flatMap((c) => c.curves.at_cutoff.map))],
      series: rank.map((c) => ({ name: c.name, color: c.color, values: c.curves.at_cutoff.map })) }));
    plots.push(lineChart({ title: "Precision and recall at k", xLabel: "k", yLabel: "Share", yDomain: [0, 1],
      series: rank.flatMap((c) => [
        { name: `${c.name} precision@k`, x: c.curves.at_cutoff.k, y: c.curves.at_cutoff.precision, color: c.color, points: true },
        { name: `${c.name} recall@k`, x: c.curves.at_cutoff.k, y: c.curves.at_cutoff.recall, color: c.color, dash: true, points: true }]) }));
  }
  if (!plots.length) return message("info", `No holdout plot for ${words(taskType)} in this answer.`);
  return h("div", { class: "chart-grid" }, plots);
}

const trialName = (number) => (number < 0 ? "baseline" : `trial ${number}`);

/** Training curves of the trials: one chart per series name (loss, validation metrics), one line per trial. */
export function trainingCurves(trials) {
  const perTrial = trials.map((t) => [t, trainingSeries(t.curves)]);
  const names = [...new Set(perTrial.flatMap(([, series]) => Object.keys(series)))];
  const charts = names.map((name) => lineChart({
    title: words(name), xLabel: "Epoch", yLabel: metricName(name.split(" ").pop()),
    series: perTrial.filter(([, series]) => series[name]).map(([t, series], i) => ({
      name: trialName(t.number), x: series[name].x, y: series[name].y, color: PALETTE[i % PALETTE.length],
      points: series[name].y.length < 12 })),
  }));
  return charts.length ? h("div", { class: "chart-grid" }, charts) : h("p", { class: "muted" }, "No training curve reported yet.");
}

function paramsText(params) {
  return Object.entries(params || {}).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ") || "—";
}

export async function render(ctx) {
  const [id] = ctx.params;
  let job = await ctx.api.get(p(ctx, "training-jobs", id), undefined, ctx.signal);
  const pquery = await ctx.api.get(p(ctx, "pqueries", job.pquery_id), undefined, ctx.signal).catch(() => null);
  const optional = (path, params) => ctx.api.get(path, params, ctx.signal).then((value) => ({ value }), (error) => ({ error }));
  let [trials, metricsAnswer, curvesAnswer, predictions] = await Promise.all([
    optional(p(ctx, "training-jobs", id, "trials"), { limit: 200 }),
    optional(p(ctx, "training-jobs", id, "metrics")),
    optional(p(ctx, "training-jobs", id, "curves")),
    optional(p(ctx, "prediction-jobs"), { training_job_id: id, limit: 50 }),
  ]);
  const taskType = pquery ? pquery.task_type : "";
  const box = { status: h("div"), progress: h("div"), metrics: h("div"), plots: h("div"), trials: h("div"), curves: h("div"), predictions: h("div"), actions: h("div", { class: "page-actions" }) };
  let drawn = {};

  function redraw(key, value, draw) {
    const sig = JSON.stringify(value);
    if (drawn[key] === sig) return;
    drawn[key] = sig;
    fill(box[key], ...[].concat(draw()));
  }

  function drawAll() {
    redraw("status", [job.status, job.error, job.started_at, job.finished_at, job.chosen_trial_number], () => [
      facts([["Status", statusBadge(job.status)], ["Query", pquery ? h("a", { href: `#/query/${encodeURIComponent(pquery.id)}` }, pquery.name) : shortId(job.pquery_id)],
        ["Task", taskType ? words(taskType) : null], ["Run mode", job.run_mode], ["Started", time(job.started_at)],
        ["Finished", job.finished_at ? time(job.finished_at) : null], ["Took", duration(job.started_at, job.finished_at)],
        ["Chosen trial", job.chosen_trial_number ?? null], ["Model", job.model_uri ? h("code", { class: "wrap" }, job.model_uri) : null]]),
      job.error ? message("error", h("strong", {}, "The job failed: "), job.error) : null]);
    const steps = stepsOf(job, pquery);
    redraw("progress", steps, () => {
      if (!steps.length) return h("p", { class: "muted" }, "No step reported yet.");
      const done = steps.filter((s) => ["done", "succeeded", "reused", "skipped"].includes(String(s.status).toLowerCase())).length;
      return [h("div", { class: "progress-line" }, h("progress", { max: steps.length, value: done, "aria-label": "Steps done" }), ` ${done} of ${steps.length} steps done`),
        h("ol", { class: "steps" }, steps.map((s) => h("li", { class: ["step", `step-${String(s.status).toLowerCase()}`] },
          statusBadge(s.status), " ", h("code", {}, s.id), s.engine ? h("span", { class: "muted" }, ` ${s.engine}`) : null,
          s.started_at ? h("span", { class: "muted" }, ` · ${duration(s.started_at, s.finished_at)}`) : null,
          s.fraction != null ? h("progress", { max: 1, value: s.fraction, "aria-label": `${s.id} progress` }) : null,
          s.detail ? h("p", { class: "step-detail" }, s.detail) : null)))];
    });
    const sets = metricSets(job, metricsAnswer.value);
    redraw("metrics", [sets, metricsAnswer.error && metricsAnswer.error.status], () => {
      const names = [...new Set([...(pquery ? pquery.metrics : []), ...Object.keys(sets.model), ...Object.keys(sets.baseline)])]
        .filter((n) => n in sets.model || n in sets.baseline);
      const selection = sets.selection || (pquery && pquery.metrics[0]);
      if (!names.length) {
        return [ACTIVE.has(job.status) ? h("p", { class: "muted" }, "Holdout metrics appear when training finishes.")
          : h("p", { class: "muted" }, "No holdout metric recorded."),
        metricsAnswer.error && !metricsAnswer.error.unavailable ? errorNote("Metrics", metricsAnswer.error) : null];
      }
      const lowerIsBetter = (n) => /^(mae|rmse)/.test(n);
      return dataTable({
        caption: "Holdout metrics: GNN and baseline", rows: names, pageSize: 50,
        columns: [
          { label: "Metric", value: (n) => (n === selection ? [metricName(n), " ", h("span", { class: "muted" }, "(selects the model)")] : metricName(n)) },
          { label: "GNN", numeric: true, value: (n) => cell(sets.model[n], sets.baseline[n], lowerIsBetter(n), sets.lift[n]) },
          { label: "Baseline", numeric: true, value: (n) => num(sets.baseline[n], 4) },
        ],
      });
    });
    redraw("plots", [curvesAnswer.value ? curvesAnswer.value.trial_number ?? Object.keys(curvesAnswer.value) : null,
      curvesAnswer.error && curvesAnswer.error.status, job.status, trials.value && trials.value.items.some((t) => t.number < 0 && t.curves)], () => {
      if (curvesAnswer.error) {
        if (curvesAnswer.error.unavailable) return errorNote("Holdout curves (GET …/curves)", curvesAnswer.error);
        if (curvesAnswer.error.status === 404 || curvesAnswer.error.status === 409) return h("p", { class: "muted" }, ACTIVE.has(job.status) ? "Plots appear when training finishes." : describeError(curvesAnswer.error));
        return errorNote("Holdout curves", curvesAnswer.error);
      }
      const sets = curveSets(curvesAnswer.value);
      // The baseline runs as trial -1: its holdout curves go beside the chosen model's.
      const baselineTrial = trials.value && trials.value.items.find((t) => t.number < 0 && t.curves && isHoldout(t.curves.holdout));
      if (sets.length === 1 && baselineTrial) sets.push(["Baseline", baselineTrial.curves.holdout]);
      return sets.length ? holdoutPlots(taskType, sets) : h("p", { class: "muted" }, "Plots appear when training finishes.");
    });
    redraw("trials", trials.value ? trials.value.items : trials.error && trials.error.status, () => {
      if (trials.error) return errorNote("Trials", trials.error);
      const items = trials.value.items;
      const metricNames = [...new Set(items.flatMap((t) => Object.keys(flatMetrics(t.metrics))))].slice(0, 4);
      return dataTable({
        caption: "AutoML trials", rows: items, pageSize: 20, empty: "No trial yet.",
        rowClass: (t) => (t.number === job.chosen_trial_number ? "chosen" : null),
        columns: [
          { label: "Trial", value: (t) => (t.number === job.chosen_trial_number ? [`${trialName(t.number)} `, h("span", { class: "badge badge-ok" }, "chosen")] : trialName(t.number)) },
          { label: "Status", value: (t) => statusBadge(t.status) },
          ...metricNames.map((m) => ({ label: metricName(m), numeric: true, value: (t) => num(flatMetrics(t.metrics)[m], 4) })),
          { label: "Parameters", value: (t) => h("code", { class: "wrap" }, paramsText(t.params)) },
          { label: "Took", value: (t) => duration(t.started_at, t.finished_at) },
          { label: "Error", value: (t) => t.error || "" },
        ],
      });
    });
    redraw("curves", trials.value ? trials.value.items.map((t) => [t.number, t.curves]) : null, () => (trials.value ? trainingCurves(trials.value.items.filter((t) => t.number >= 0)) : ""));
    redraw("predictions", [predictions.value, predictions.error && predictions.error.status, job.status], () => predictionPanel());
    redraw("actions", [job.status, job.workflow_id, job.cancel_requested_at], () => actions());
  }

  function cell(value, baseline, lowerIsBetter, lift) {
    const text = num(value, 4);
    if (typeof value !== "number" || typeof baseline !== "number") return text;
    const better = typeof lift === "number" ? lift > 0 : (lowerIsBetter ? value < baseline : value > baseline);
    return h("span", { class: better ? "better" : "worse", title: better ? "better than the baseline" : "not better than the baseline" }, text, better ? " ▲" : " ▼");
  }

  function actions() {
    const out = [];
    const cfg = ctx.config();
    if (job.workflow_id && cfg.temporal_ui_url) {
      const url = `${cfg.temporal_ui_url}/namespaces/${encodeURIComponent(cfg.temporal_namespace || "default")}/workflows/${encodeURIComponent(job.workflow_id)}`;
      out.push(h("a", { class: "button", href: url, target: "_blank", rel: "noopener noreferrer" }, "Workflow in Temporal UI"));
    }
    if (ACTIVE.has(job.status)) {
      const cancel = h("button", { type: "button", class: "danger", disabled: Boolean(job.cancel_requested_at) }, job.cancel_requested_at ? "Cancelling…" : "Cancel job");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try {
          const answer = await ctx.api.post(p(ctx, "training-jobs", job.id, "cancel"));
          if (answer && answer.id) job = answer;
          announce("Cancellation requested");
          drawAll();
        } catch (error) {
          box.status.prepend(errorNote("Cancelling", error));
          cancel.disabled = false;
        }
      });
      out.push(cancel);
    }
    return out;
  }

  function predictionPanel() {
    const parts = [];
    if (predictions.error) parts.push(errorNote("Prediction jobs", predictions.error));
    else if (predictions.value.items.length) {
      parts.push(dataTable({
        caption: "Prediction jobs with this model", rows: predictions.value.items, pageSize: 10,
        columns: [
          { label: "Job", value: (j) => h("a", { href: `#/jobs/prediction/${encodeURIComponent(j.id)}` }, shortId(j.id)) },
          { label: "Status", value: (j) => statusBadge(j.status) },
          { label: "Rows", numeric: true, value: (j) => num(j.outputs && j.outputs.rows) },
          { label: "Started", value: (j) => time(j.started_at || j.created_at) },
        ],
      }));
    }
    if (job.status === "succeeded") {
      const anchor = h("input", { type: "datetime-local", name: "anchor-time", step: 1 });
      const status = h("div", { "aria-live": "polite" });
      const form = h("form", { class: "inline-form", "aria-label": "Predict" },
        h("div", { class: "field-row" }, field("Anchor time (UTC, optional)", anchor, "Empty: the newest data."),
          h("div", { class: "field field-button" }, h("button", { type: "submit", class: "primary" }, "Predict"))), status);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = { training_job_id: job.id };
        if (anchor.value) body.anchor_time = `${anchor.value.length === 16 ? anchor.value + ":00" : anchor.value}Z`;
        try {
          const created = await ctx.api.post(p(ctx, "prediction-jobs"), body);
          ctx.navigate(`#/jobs/prediction/${encodeURIComponent(created.id)}`);
        } catch (error) {
          fill(status, errorNote("Starting a prediction job", error));
        }
      });
      parts.push(form);
    } else if (!parts.length) {
      parts.push(h("p", { class: "muted" }, "Predictions can be made once training has succeeded."));
    }
    return parts;
  }

  drawAll();
  ctx.show(
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), " / training ", shortId(job.id)),
    h("div", { class: "page-header" }, h("div", {}, h("h1", {}, `Training job ${shortId(job.id)}`),
      h("p", { class: "subtitle" }, pquery ? `${pquery.name}: ${pquery.text}` : job.pquery_id)), box.actions),
    h("div", { class: "columns" },
      h("div", { class: "stack" }, section("Overview", {}, box.status), section("Progress", {}, box.progress)),
      h("div", { class: "stack" }, section("Holdout metrics", {}, box.metrics), section("Predictions", {}, box.predictions))),
    section("Holdout plots", { class: "wide" }, box.plots),
    section("AutoML trials", { class: "wide" }, box.trials),
    section("Training curves", { class: "wide" }, box.curves),
  );
  ctx.every(POLL_MS, async () => {
    if (!ACTIVE.has(job.status)) return;
    job = await ctx.api.get(p(ctx, "training-jobs", id), undefined, ctx.signal);
    [trials, metricsAnswer, curvesAnswer, predictions] = await Promise.all([
      optional(p(ctx, "training-jobs", id, "trials"), { limit: 200 }),
      ACTIVE.has(job.status) ? metricsAnswer : optional(p(ctx, "training-jobs", id, "metrics")),
      ACTIVE.has(job.status) ? curvesAnswer : optional(p(ctx, "training-jobs", id, "curves")),
      predictions,
    ]);
    drawAll();
    if (!ACTIVE.has(job.status)) announce(`Training job ${job.status}`);
  });
}
