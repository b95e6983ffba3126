// Formatting numbers, times and durations for people.

/** A number with a sensible number of digits; "—" for null, NaN or undefined. */
export function num(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "—";
  const x = Number(value);
  if (!Number.isFinite(x)) return typeof value === "string" ? value : "—";
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return x.toLocaleString("en-US");
  const abs = Math.abs(x);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e7)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

/** A fraction as a percentage. */
export function pct(value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return "—";
  return `${(Number(value) * 100).toFixed(1)}\u00a0%`;
}

/** An ISO time as "2024-05-01 12:30:05 UTC". */
export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace("Z", " UTC");
}

/** The time between two ISO times (or until now) as "1 min 5 s". */
export function duration(startIso, endIso) {
  if (!startIso) return "—";
  const start = new Date(startIso).getTime();
  const end = endIso ? new Date(endIso).getTime() : Date.now();
  if (!Number.isFinite(start) || !Number.isFinite(end)) return "—";
  let seconds = Math.max(0, Math.round((end - start) / 1000));
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (hours) return `${hours} h ${minutes} min`;
  if (minutes) return `${minutes} min ${seconds} s`;
  return `${seconds} s`;
}

/** A byte count as "12.3 kB". */
export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let x = Number(n);
  let i = 0;
  while (x >= 1000 && i < units.length - 1) { x /= 1000; i += 1; }
  return `${i ? x.toFixed(1) : x} ${units[i]}`;
}

/** "binary_classification" as "binary classification". */
export function words(identifier) {
  return String(identifier || "").replace(/_/g, " ");
}

/** A short form of a long id. */
export function shortId(id) {
  return id ? String(id).slice(0, 8) : "—";
}

/** Metric names for people: auroc -> AUROC, map@12 -> MAP@12. */
export function metricName(name) {
  const known = { auroc: "AUROC", average_precision: "Average precision", accuracy: "Accuracy", f1: "F1",
    macro_f1: "Macro F1", macro_auprc: "Macro AUPRC", mae: "MAE", rmse: "RMSE", r2: "R²",
    mae_per_horizon: "MAE per horizon" };
  if (known[name]) return known[name];
  const m = /^(map|precision|recall)@(\d+)$/.exec(name);
  if (m) return `${m[1] === "map" ? "MAP" : m[1][0].toUpperCase() + m[1].slice(1)}@${m[2]}`;
  const h = /^mae_h(\d+)$/.exec(name);
  if (h) return `MAE h${h[1]}`;
  return words(name);
}
