// The PQL editor: a transparent <textarea> over a highlighted <pre>, with a wavy underline at an error.
// Tab is left to the browser (it moves focus), so the editor never traps keyboard users.

import { h } from "./dom.js";
import { tokenize } from "./pql.js";

function segments(tokens, range) {
  // Split tokens at the error's bounds so the underline covers exactly [start, end).
  if (!range) return tokens.map((t) => ({ ...t, error: false }));
  const out = [];
  for (const t of tokens) {
    const cuts = [t.start, Math.max(t.start, Math.min(t.end, range.start)), Math.max(t.start, Math.min(t.end, range.end)), t.end];
    for (let i = 0; i < 3; i += 1) {
      if (cuts[i + 1] > cuts[i]) {
        out.push({ type: t.type, start: cuts[i], end: cuts[i + 1], error: cuts[i] >= range.start && cuts[i + 1] <= range.end,
          text: t.text.slice(cuts[i] - t.start, cuts[i + 1] - t.start) });
      }
    }
  }
  return out;
}

/**
 * Make an editor.
 * @param {{value?: string, label: string, describedBy?: string, onInput?: (text: string) => void}} options
 * @returns {{element: HTMLElement, textarea: HTMLTextAreaElement, value: string, setValue(text: string): void,
 *   setError(range: {start: number, end: number}|null, message?: string): void}}
 */
export function createEditor({ value = "", label, describedBy, onInput }) {
  const code = h("code");
  const highlight = h("pre", { class: "pql-highlight", "aria-hidden": "true" }, code);
  const textarea = h("textarea", {
    class: "pql-input", spellcheck: "false", autocapitalize: "off", autocomplete: "off", wrap: "soft",
    "aria-label": label, "aria-describedby": describedBy, "aria-invalid": "false", "data-gramm": "false",
    placeholder: "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id",
  });
  textarea.value = value;
  const element = h("div", { class: "pql-editor" }, highlight, textarea);
  let errorRange = null;

  function paint() {
    const text = textarea.value;
    const parts = segments(tokenize(text), errorRange && errorRange.start < Math.max(text.length, 1) ? errorRange : null);
    const nodes = parts.map((p) => {
      if (p.type === "whitespace" && !p.error) return document.createTextNode(p.text);
      const span = h("span", { class: [`tok-${p.type}`, p.error && "pql-error"] }, p.text);
      if (p.error) span.dataset.error = "true";
      return span;
    });
    // A trailing newline needs something after it to take up its line in the <pre>.
    nodes.push(document.createTextNode(text.endsWith("\n") || text === "" ? " " : ""));
    code.replaceChildren(...nodes);
    resize();
  }

  function resize() {
    textarea.style.height = "auto";
    textarea.style.height = `${Math.max(textarea.scrollHeight, 96)}px`;
    highlight.scrollTop = textarea.scrollTop;
    highlight.scrollLeft = textarea.scrollLeft;
  }

  textarea.addEventListener("input", () => {
    errorRange = null; // positions are stale as soon as the text changes
    textarea.setAttribute("aria-invalid", "false");
    paint();
    if (onInput) onInput(textarea.value);
  });
  textarea.addEventListener("scroll", () => {
    highlight.scrollTop = textarea.scrollTop;
    highlight.scrollLeft = textarea.scrollLeft;
  });
  paint();

  return {
    element,
    textarea,
    get value() { return textarea.value; },
    setValue(text) {
      textarea.value = text;
      errorRange = null;
      paint();
      if (onInput) onInput(text);
    },
    setError(range, text) {
      errorRange = range;
      textarea.setAttribute("aria-invalid", range ? "true" : "false");
      highlight.title = text || "";
      paint();
    },
    refresh: resize,
  };
}
