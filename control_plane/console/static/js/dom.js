// Building DOM and SVG trees without a framework.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs, isSvg) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (name === "text") {
      el.textContent = value;
    } else if (name === "style") {
      // The console's CSP forbids style attributes; the CSSOM is allowed.
      Object.assign(el.style, value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (!isSvg && name in el && typeof value !== "string" && name !== "list") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** An HTML element: h("button", {class: "primary", onclick: f}, "Save"). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs, false);
  append(el, children);
  return el;
}

/** An SVG element: s("circle", {cx: 1, cy: 2, r: 3}). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs, true);
  append(el, children);
  return el;
}

/** Tell screen readers something happened (a polite live region). */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node in the next frame makes repeated messages heard again.
  requestAnimationFrame(() => { region.textContent = message; });
}

let idCounter = 0;
/** A page-unique id for label/aria wiring. */
export function uid(prefix = "id") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form field: label above the control. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid("f");
  const parts = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "field-hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}

/** A <select> from [value, label] pairs (or plain strings). */
export function select(options, attrs = {}, selected) {
  const el = h("select", attrs);
  for (const option of options) {
    const [value, label] = Array.isArray(option) ? option : [option, option];
    el.appendChild(h("option", { value, selected: value === selected }, label));
  }
  return el;
}

/** A status message box: kind is "error", "warning", "info" or "ok". */
export function message(kind, ...children) {
  const role = kind === "error" ? "alert" : "status";
  return h("div", { class: ["message", `message-${kind}`], role }, children);
}

/** A section with a heading of the given level. */
export function section(title, attrs, ...children) {
  const headingId = uid("sec");
  const level = (attrs && attrs.level) || 2;
  const rest = { ...(attrs || {}) };
  delete rest.level;
  return h("section", { ...rest, class: ["panel", rest.class], "aria-labelledby": headingId },
    h(`h${level}`, { id: headingId }, title), children);
}

/** A button that runs an async action, disabled while it runs. */
export function actionButton(label, action, attrs = {}) {
  const button = h("button", { type: "button", ...attrs }, label);
  button.addEventListener("click", async () => {
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await action(button);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
  return button;
}

/** Replace an element's children (nested arrays flattened; null, undefined and false skipped). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}
