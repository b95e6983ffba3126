// The diagram of a graph: tables as boxes in layers (referenced tables above the tables that reference
// them), foreign-key links as arrows from the referencing table to the referenced one, labelled with the
// column. Suggested links are dashed. The layout is layered with a few barycentre passes to limit crossings.

import { s, uid } from "./dom.js";

const NODE_W = 168;
const NODE_H = 64;
const GAP_X = 36;
const GAP_Y = 96;
const PAD = 24;

/**
 * Layers and order of the tables.
 * @param {string[]} names the tables.
 * @param {{source_table: string, target_table: string}[]} links
 * @returns {string[][]} the tables of each layer, top first.
 */
export function layeredLayout(names, links) {
  const known = new Set(names);
  const targets = new Map(names.map((n) => [n, []]));
  for (const link of links) {
    if (known.has(link.source_table) && known.has(link.target_table) && link.source_table !== link.target_table) {
      targets.get(link.source_table).push(link.target_table);
    }
  }
  const layer = new Map();
  const visiting = new Set();
  function depth(name) {
    if (layer.has(name)) return layer.get(name);
    if (visiting.has(name)) return 0; // a cycle: cut it here
    visiting.add(name);
    const below = targets.get(name).map(depth);
    visiting.delete(name);
    const d = below.length ? 1 + Math.max(...below) : 0;
    layer.set(name, d);
    return d;
  }
  names.forEach(depth);
  const layers = [];
  for (const name of names) {
    const d = layer.get(name);
    while (layers.length <= d) layers.push([]);
    layers[d].push(name);
  }
  // Barycentre ordering: each table near the mean position of the tables it links with.
  const neighbours = new Map(names.map((n) => [n, new Set()]));
  for (const [src, tgts] of targets) for (const t of tgts) { neighbours.get(src).add(t); neighbours.get(t).add(src); }
  const position = new Map();
  const place = (l) => l.forEach((n, k) => position.set(n, (k + 0.5) / l.length));
  layers.forEach(place);
  for (let pass = 0; pass < 4; pass += 1) {
    const range = layers.map((_, i) => (pass % 2 === 0 ? i : layers.length - 1 - i));
    for (const i of range) {
      const score = new Map(layers[i].map((n) => {
        const ns = [...neighbours.get(n)].filter((m) => layer.get(m) !== i);
        return [n, ns.length ? ns.reduce((a, m) => a + position.get(m), 0) / ns.length : position.get(n)];
      }));
      layers[i].sort((a, b) => score.get(a) - score.get(b));
      place(layers[i]);
    }
  }
  return layers;
}

function clip(text, max = 24) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function cubicAt(p0, p1, p2, p3, t) {
  const u = 1 - t;
  return u * u * u * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t * t * t * p3;
}

/**
 * Draw a graph.
 * @param {{tables: {name: string, primary_key?: string|null, time_column?: string|null, columns?: number|null}[],
 *   links: {source_table: string, source_column: string, target_table: string, suggested?: boolean}[],
 *   title?: string}} spec
 * @returns {SVGSVGElement} sized by its viewBox; its natural width is in style.maxWidth.
 */
export function graphDiagram({ tables, links, title = "Graph" }) {
  const names = tables.map((t) => t.name);
  const byName = new Map(tables.map((t) => [t.name, t]));
  const layers = layeredLayout(names, links);
  const widest = Math.max(1, ...layers.map((l) => l.length));
  const width = Math.max(360, PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X + 60);
  const sameLayerLinks = links.some((l) => l.source_table !== l.target_table && layers.some((layer) => layer.includes(l.source_table) && layer.includes(l.target_table)));
  const height = PAD * 2 + layers.length * NODE_H + Math.max(0, layers.length - 1) * GAP_Y + (sameLayerLinks ? 70 : 10);
  const at = new Map();
  layers.forEach((layer, i) => {
    const rowWidth = layer.length * NODE_W + (layer.length - 1) * GAP_X;
    const x0 = (width - rowWidth) / 2;
    layer.forEach((name, k) => at.set(name, { x: x0 + k * (NODE_W + GAP_X), y: PAD + i * (NODE_H + GAP_Y) }));
  });
  const linked = links.filter((l) => at.has(l.source_table) && at.has(l.target_table));
  const declared = linked.filter((l) => !l.suggested).length;
  const label = `${title}: ${tables.length} tables, ${declared} links`
    + (linked.length > declared ? `, ${linked.length - declared} suggested` : "");
  const arrow = uid("arrow");
  const arrowSuggested = uid("arrow-s");
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "graph-svg", role: "img", "aria-label": label,
    style: { maxWidth: `${width}px`, minWidth: `${Math.min(width, 560)}px` } },
  s("title", {}, label),
  s("defs", {},
    s("marker", { id: arrow, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" })),
    s("marker", { id: arrowSuggested, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head suggested" }))));

  // Ports: the links leaving or entering a side of a box spread along it, ordered by the other end's position.
  const ports = new Map();
  const portOf = (name, side, link) => {
    const key = `${name}|${side}`;
    if (!ports.has(key)) ports.set(key, []);
    ports.get(key).push(link);
  };
  const sideOf = (from, to) => (from.y > to.y ? "top" : "bottom");
  for (const link of linked) {
    if (link.source_table === link.target_table) continue;
    const a = at.get(link.source_table);
    const b = at.get(link.target_table);
    portOf(link.source_table, sideOf(a, b), link);
    portOf(link.target_table, a.y === b.y ? "bottom" : sideOf(b, a), link);
  }
  for (const [key, list] of ports) {
    const name = key.split("|")[0];
    const other = (l) => at.get(l.source_table === name ? l.target_table : l.source_table).x;
    list.sort((l1, l2) => other(l1) - other(l2));
  }
  const portX = (name, side, link) => {
    const list = ports.get(`${name}|${side}`);
    const k = list.indexOf(link);
    return at.get(name).x + (NODE_W * (k + 1)) / (list.length + 1);
  };

  const edges = s("g", { class: "edges" });
  const labels = s("g", { class: "edge-labels" });
  let selfCount = 0;
  for (const link of linked) {
    const a = at.get(link.source_table);
    const b = at.get(link.target_table);
    let d;
    let lx;
    let ly;
    if (link.source_table === link.target_table) {
      const offset = 16 * selfCount++;
      const x = a.x + NODE_W;
      const y = a.y + NODE_H / 2;
      d = `M${x},${y - 10} C${x + 50 + offset},${y - 40} ${x + 50 + offset},${y + 40} ${x},${y + 10}`;
      lx = x + 40 + offset;
      ly = y + 4;
    } else {
      const sideA = sideOf(a, b);
      const sideB = a.y === b.y ? "bottom" : sideOf(b, a);
      const sx = portX(link.source_table, sideA, link);
      const tx = portX(link.target_table, sideB, link);
      const sy = sideA === "top" ? a.y : a.y + NODE_H;
      const ty = sideB === "top" ? b.y : b.y + NODE_H;
      const c1 = a.y === b.y ? sy + 60 : (sy + ty) / 2;
      const c2 = a.y === b.y ? ty + 60 : (sy + ty) / 2;
      d = `M${sx},${sy} C${sx},${c1} ${tx},${c2} ${tx},${ty}`;
      const t = a.y === b.y ? 0.5 : 0.25;
      lx = cubicAt(sx, sx, tx, tx, t);
      ly = cubicAt(sy, c1, c2, ty, t) + 4;
    }
    const edgeLabel = `${link.source_table}.${link.source_column} → ${link.target_table}${link.suggested ? " (suggested)" : ""}`;
    edges.append(s("g", { class: ["edge", link.suggested && "suggested"] },
      s("title", {}, edgeLabel),
      s("path", { d, fill: "none", "marker-end": `url(#${link.suggested ? arrowSuggested : arrow})` })));
    labels.append(s("text", { x: lx.toFixed(1), y: ly.toFixed(1), "text-anchor": "middle", class: ["edge-label", link.suggested && "suggested"] }, link.source_column));
  }
  const nodes = s("g", { class: "nodes" });
  for (const name of names) {
    const { x, y } = at.get(name);
    const t = byName.get(name);
    const key = t.primary_key ? `key ${t.primary_key}` : "no primary key";
    const when = t.time_column ? `time ${t.time_column}` : "static";
    nodes.append(s("g", { class: ["node", t.time_column ? "temporal" : "static"], transform: `translate(${x},${y})` },
      s("title", {}, `${name}: ${key}, ${when}${t.columns != null ? `, ${t.columns} columns` : ""}`),
      s("rect", { width: NODE_W, height: NODE_H, rx: 8 }),
      s("text", { x: NODE_W / 2, y: 21, "text-anchor": "middle", class: "node-name" }, clip(name, 20)),
      s("text", { x: NODE_W / 2, y: 39, "text-anchor": "middle", class: "node-facts" }, clip(key)),
      s("text", { x: NODE_W / 2, y: 54, "text-anchor": "middle", class: "node-facts" }, clip(when))));
  }
  svg.append(edges, nodes, labels);
  return svg;
}
