// Small SVG charts: line charts (training curves, ROC, PR, calibration), bars (MAP@k, per-label AP,
// histograms), a confusion-matrix heat map and a predicted-vs-actual scatter. Each returns a <figure>
// whose <svg> has role="img" and a label summarising it; sizes come from the viewBox, so CSS scales them.

import { h, s } from "./dom.js";
import { num } from "./format.js";

export const PALETTE = ["#1f5fbf", "#d9730d", "#2e8540", "#b3261e", "#6b4fbb", "#0f7c8c", "#8a6d00", "#c2185b",
  "#455a64", "#5d7f00"];
const W = 480;
const H = 300;
const MARGIN = { top: 14, right: 16, bottom: 44, left: 58 };

/** Round tick values covering [min, max]: about `count` of them at 1, 2 or 5 times a power of ten. */
export function ticks(min, max, count = 5) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((v) => v >= raw) || 10 * power;
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function extent(values, pad = 0) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  const margin = (hi - lo) * pad;
  return [lo - margin, hi + margin];
}

function linear([d0, d1], [r0, r1]) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

function figure(title, svg, legend, note) {
  return h("figure", { class: "chart" }, h("figcaption", {}, title), svg, legend || null,
    note ? h("p", { class: "chart-note" }, note) : null);
}

function frame(label) {
  return s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart-svg",
    preserveAspectRatio: "xMidYMid meet" }, s("title", {}, label));
}

function axes(svg, x, y, xTicks, yTicks, xLabel, yLabel, xFormat = num, yFormat = num) {
  const left = MARGIN.left;
  const bottom = H - MARGIN.bottom;
  const g = s("g", { class: "axes" });
  for (const t of yTicks) {
    const py = y(t);
    g.append(s("line", { x1: left, x2: W - MARGIN.right, y1: py, y2: py, class: "grid" }),
      s("text", { x: left - 6, y: py + 4, "text-anchor": "end", class: "tick" }, yFormat(t)));
  }
  for (const t of xTicks) {
    const px = x(t);
    g.append(s("line", { x1: px, x2: px, y1: bottom, y2: bottom + 4, class: "axis" }),
      s("text", { x: px, y: bottom + 17, "text-anchor": "middle", class: "tick" }, xFormat(t)));
  }
  g.append(s("line", { x1: left, x2: W - MARGIN.right, y1: bottom, y2: bottom, class: "axis" }),
    s("line", { x1: left, x2: left, y1: MARGIN.top, y2: bottom, class: "axis" }));
  if (xLabel) g.append(s("text", { x: (left + W - MARGIN.right) / 2, y: H - 6, "text-anchor": "middle", class: "axis-label" }, xLabel));
  if (yLabel) {
    g.append(s("text", { x: 14, y: (MARGIN.top + bottom) / 2, "text-anchor": "middle", class: "axis-label",
      transform: `rotate(-90 14 ${(MARGIN.top + bottom) / 2})` }, yLabel));
  }
  svg.append(g);
}

function legendOf(series) {
  if (series.length < 2) return null;
  return h("ul", { class: "legend" }, series.map((ser, i) => h("li", {},
    h("span", { class: ["swatch", ser.dash && "swatch-dashed"], style: { borderColor: ser.color || PALETTE[i % PALETTE.length] }, "aria-hidden": "true" }),
    ser.name)));
}

/**
 * Lines over a shared x axis.
 * @param {{title: string, series: {name: string, x: number[], y: number[], color?: string, dash?: boolean,
 *   points?: boolean}[], xLabel?: string, yLabel?: string, xDomain?: number[], yDomain?: number[],
 *   diagonal?: boolean, note?: string}} spec
 */
export function lineChart(spec) {
  const series = spec.series.filter((ser) => ser.x && ser.x.length);
  const xDomain = spec.xDomain || extent(series.flatMap((ser) => ser.x));
  const yDomain = spec.yDomain || extent(series.flatMap((ser) => ser.y), 0.05);
  const x = linear(xDomain, [MARGIN.left, W - MARGIN.right]);
  const y = linear(yDomain, [H - MARGIN.bottom, MARGIN.top]);
  const summary = `${spec.title}: ${series.map((ser) => `${ser.name}, ${ser.x.length} points`).join("; ") || "no data"}`;
  const svg = frame(summary);
  const integral = series.every((ser) => ser.x.every(Number.isInteger));
  const xTicks = ticks(...xDomain, 6).filter((t) => !integral || Number.isInteger(t));
  axes(svg, x, y, xTicks, ticks(...yDomain, 5), spec.xLabel, spec.yLabel);
  const plot = s("g", { class: "plot" });
  if (spec.diagonal) {
    const lo = Math.max(xDomain[0], yDomain[0]);
    const hi = Math.min(xDomain[1], yDomain[1]);
    plot.append(s("line", { x1: x(lo), y1: y(lo), x2: x(hi), y2: y(hi), class: "reference" }));
  }
  series.forEach((ser, i) => {
    const color = ser.color || PALETTE[i % PALETTE.length];
    const d = [];
    ser.x.forEach((xv, j) => {
      const yv = ser.y[j];
      if (!Number.isFinite(xv) || !Number.isFinite(yv)) return;
      d.push(`${d.length ? "L" : "M"}${x(xv).toFixed(1)},${y(yv).toFixed(1)}`);
    });
    plot.append(s("path", { d: d.join(""), class: ["series", ser.dash && "dashed"], stroke: color, fill: "none" }));
    if (ser.points) {
      ser.x.forEach((xv, j) => {
        if (Number.isFinite(xv) && Number.isFinite(ser.y[j])) {
          plot.append(s("circle", { cx: x(xv), cy: y(ser.y[j]), r: 3.2, fill: color, class: "point" }));
        }
      });
    }
  });
  svg.append(plot);
  return figure(spec.title, svg, legendOf(series), spec.note);
}

/** ROC curves ({fpr, tpr} each), with the chance diagonal. */
export function rocChart(curves) {
  return lineChart({
    title: "ROC curve", xLabel: "False positive rate", yLabel: "True positive rate", xDomain: [0, 1], yDomain: [0, 1],
    diagonal: true, series: curves.map((c) => ({ name: c.name, x: c.roc.fpr, y: c.roc.tpr, color: c.color, dash: c.dash })),
  });
}

/** Precision-recall curves ({precision, recall} each). */
export function prChart(curves) {
  return lineChart({
    title: "Precision-recall curve", xLabel: "Recall", yLabel: "Precision", xDomain: [0, 1], yDomain: [0, 1],
    series: curves.map((c) => ({ name: c.name, x: c.pr.recall, y: c.pr.precision, color: c.color, dash: c.dash })),
  });
}

/** Calibration: mean score against the fraction of positives per bin, with the perfect diagonal. */
export function calibrationChart(curves) {
  return lineChart({
    title: "Calibration", xLabel: "Mean predicted probability", yLabel: "Fraction positive", xDomain: [0, 1],
    yDomain: [0, 1], diagonal: true,
    series: curves.map((c) => ({ name: c.name, x: c.calibration.mean_score, y: c.calibration.fraction_positive,
      color: c.color, dash: c.dash, points: true })),
  });
}

/** A confusion matrix ({labels, matrix}: rows actual, columns predicted) as a heat map of row shares. */
export function confusionMatrix(confusion, title = "Confusion matrix") {
  const labels = confusion.labels || [];
  const matrix = confusion.matrix || [];
  const n = labels.length;
  const size = Math.min(W - 130, 270);
  const cell = n ? size / n : size;
  const left = 110;
  const top = 10;
  const height = top + size + 56;
  const total = matrix.flat().reduce((a, b) => a + b, 0);
  const correct = matrix.reduce((a, row, i) => a + (row[i] || 0), 0);
  const label = `${title}: ${n} classes, ${num(total)} examples, ${num(correct)} on the diagonal`;
  const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label, class: "chart-svg" }, s("title", {}, label));
  const fontSize = Math.max(8, Math.min(14, cell / 3));
  matrix.forEach((row, i) => {
    const rowTotal = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((value, j) => {
      const share = value / rowTotal;
      svg.append(s("rect", { x: left + j * cell, y: top + i * cell, width: cell - 1, height: cell - 1,
        fill: `rgba(31, 95, 191, ${0.08 + 0.92 * share})`, class: "cell" },
      s("title", {}, `actual ${labels[i]}, predicted ${labels[j]}: ${value}`)));
      if (cell >= 18) {
        svg.append(s("text", { x: left + j * cell + cell / 2, y: top + i * cell + cell / 2 + fontSize / 3,
          "text-anchor": "middle", class: share > 0.55 ? "cell-text light" : "cell-text", "font-size": fontSize }, num(value)));
      }
    });
  });
  const tickLabels = n <= 20;
  labels.forEach((lab, i) => {
    if (!tickLabels) return;
    const text = String(lab).slice(0, 12);
    svg.append(s("text", { x: left - 6, y: top + i * cell + cell / 2 + 4, "text-anchor": "end", class: "tick" }, text),
      s("text", { x: left + i * cell + cell / 2, y: top + size + 16, "text-anchor": "middle", class: "tick" }, text));
  });
  svg.append(s("text", { x: left + size / 2, y: top + size + 40, "text-anchor": "middle", class: "axis-label" }, "Predicted"),
    s("text", { x: 16, y: top + size / 2, "text-anchor": "middle", class: "axis-label", transform: `rotate(-90 16 ${top + size / 2})` }, "Actual"));
  return figure(title, svg, null, total ? `Accuracy on these examples: ${num(correct / total, 3)}; colour: share of the actual class.` : null);
}

/** Predicted against actual values, with the y = x line. */
export function scatterChart({ title = "Predicted vs actual", actual, predicted, group, xLabel = "Actual", yLabel = "Predicted" }) {
  const all = actual.concat(predicted);
  const domain = extent(all, 0.04);
  const x = linear(domain, [MARGIN.left, W - MARGIN.right]);
  const y = linear(domain, [H - MARGIN.bottom, MARGIN.top]);
  const label = `${title}: ${actual.length} points`;
  const svg = frame(label);
  axes(svg, x, y, ticks(...domain, 6), ticks(...domain, 5), xLabel, yLabel);
  const plot = s("g", { class: "plot" });
  plot.append(s("line", { x1: x(domain[0]), y1: y(domain[0]), x2: x(domain[1]), y2: y(domain[1]), class: "reference" }));
  const groups = group ? [...new Set(group)].sort((a, b) => a - b) : [null];
  actual.forEach((a, i) => {
    const p = predicted[i];
    if (!Number.isFinite(a) || !Number.isFinite(p)) return;
    const color = group ? PALETTE[groups.indexOf(group[i]) % PALETTE.length] : PALETTE[0];
    plot.append(s("circle", { cx: x(a).toFixed(1), cy: y(p).toFixed(1), r: 2.6, fill: color, class: "dot" }));
  });
  svg.append(plot);
  const legend = group && groups.length > 1 ? legendOf(groups.map((g, i) => ({ name: `horizon ${g}`, color: PALETTE[i % PALETTE.length] }))) : null;
  return figure(title, svg, legend);
}

/**
 * Bars: one per label, or grouped series ({name, values}) per label.
 * @param {{title: string, labels: (string|number)[], series: {name: string, values: number[], color?: string}[],
 *   xLabel?: string, yLabel?: string, yDomain?: number[]}} spec
 */
export function barChart(spec) {
  const { labels, series } = spec;
  const values = series.flatMap((ser) => ser.values);
  const yDomain = spec.yDomain || [Math.min(0, ...values.filter(Number.isFinite)), (Math.max(...values.filter(Number.isFinite), 0) || 1) * 1.05];
  const y = linear(yDomain, [H - MARGIN.bottom, MARGIN.top]);
  const band = (W - MARGIN.left - MARGIN.right) / Math.max(1, labels.length);
  const inner = Math.max(1, (band * 0.8) / Math.max(1, series.length));
  const label = `${spec.title}: ${labels.length} bars`;
  const svg = frame(label);
  const xPos = (i) => MARGIN.left + band * i + band / 2;
  const every = Math.ceil(labels.length / 12);
  const shown = labels.map((_, i) => i).filter((i) => i % every === 0);
  axes(svg, (i) => xPos(i), y, shown, ticks(...yDomain, 5), spec.xLabel, spec.yLabel, (i) => String(labels[i]).slice(0, 10));
  const plot = s("g", { class: "plot" });
  series.forEach((ser, k) => {
    const color = ser.color || PALETTE[k % PALETTE.length];
    ser.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const x0 = MARGIN.left + band * i + band * 0.1 + inner * k;
      const top = y(Math.max(0, v));
      plot.append(s("rect", { x: x0.toFixed(1), y: top.toFixed(1), width: Math.max(1, inner - 1).toFixed(1),
        height: Math.max(0.5, Math.abs(y(v) - y(0))).toFixed(1), fill: color, class: "bar" },
      s("title", {}, `${ser.name ? ser.name + ", " : ""}${labels[i]}: ${num(v)}`)));
    });
  });
  svg.append(plot);
  return figure(spec.title, svg, legendOf(series), spec.note);
}

/** A histogram from fixed bins: {edges (n + 1 numbers or ISO times), counts (n)}. */
export function histogram({ edges, counts }, title = "Histogram", xLabel = "") {
  const n = counts.length;
  const numeric = edges.every((e) => typeof e === "number");
  const max = Math.max(1, ...counts);
  const y = linear([0, max * 1.05], [H - MARGIN.bottom, MARGIN.top]);
  const band = (W - MARGIN.left - MARGIN.right) / Math.max(1, n);
  const label = `${title}: ${n} bins from ${fmtEdge(edges[0])} to ${fmtEdge(edges[n])}, largest bin ${num(max)}`;
  const svg = frame(label);
  const tickIdx = [0, Math.floor(n / 2), n].filter((v, i, a) => a.indexOf(v) === i);
  axes(svg, (i) => MARGIN.left + band * i, y, tickIdx, ticks(0, max, 4), xLabel, "Rows",
    (i) => (numeric ? num(edges[i], 3) : fmtEdge(edges[i])), (v) => num(v));
  const plot = s("g", { class: "plot" });
  counts.forEach((c, i) => {
    plot.append(s("rect", { x: (MARGIN.left + band * i + 0.5).toFixed(1), y: y(c).toFixed(1), width: Math.max(0.5, band - 1).toFixed(1),
      height: Math.max(0, y(0) - y(c)).toFixed(1), class: "bar", fill: PALETTE[0] },
    s("title", {}, `${fmtEdge(edges[i])} to ${fmtEdge(edges[i + 1])}: ${num(c)}`)));
  });
  svg.append(plot);
  return figure(title, svg);
}

function fmtEdge(edge) {
  if (typeof edge === "number") return num(edge, 3);
  if (typeof edge === "string" && /^\d{4}-\d\d-\d\d/.test(edge)) return edge.slice(0, 10);
  return String(edge);
}

/** A tiny histogram without axes, for table rows. */
export function sparkHistogram(counts, label) {
  const max = Math.max(1, ...counts);
  const w = 80;
  const hgt = 20;
  const band = w / Math.max(1, counts.length);
  const svg = s("svg", { viewBox: `0 0 ${w} ${hgt}`, class: "spark", role: "img", "aria-label": label }, s("title", {}, label));
  counts.forEach((c, i) => {
    const bh = (c / max) * (hgt - 1);
    svg.append(s("rect", { x: (band * i).toFixed(2), y: (hgt - bh).toFixed(2), width: Math.max(0.4, band - 0.6).toFixed(2), height: bh.toFixed(2) }));
  });
  return svg;
}
