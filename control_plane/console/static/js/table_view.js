// Tables with pagination: rows held in the page (dataTable) or pages fetched from the API (remoteTable).

import { h, fill, uid } from "./dom.js";
import { describeError } from "./api.js";

function headRow(columns) {
  return h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.numeric ? "num" : null }, c.label)));
}

function bodyRows(columns, rows, rowClass) {
  return rows.map((row) => h("tr", { class: rowClass ? rowClass(row) : null },
    columns.map((c, i) => {
      const value = c.value(row);
      const attrs = { class: [c.numeric && "num", c.class] };
      return i === 0 && c.rowHeader !== false ? h("th", { scope: "row", ...attrs }, value) : h("td", attrs, value);
    })));
}

function pager(label, onMove) {
  const status = h("span", { class: "pager-status", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "small", onclick: () => onMove(-1) }, "Previous");
  const next = h("button", { type: "button", class: "small", onclick: () => onMove(1) }, "Next");
  const nav = h("nav", { class: "pager", "aria-label": `${label} pages` }, prev, status, next);
  return {
    nav,
    update(offset, count, total) {
      status.textContent = total ? `${offset + 1}–${offset + count} of ${total}` : "0 of 0";
      prev.disabled = offset <= 0;
      next.disabled = offset + count >= total;
      nav.hidden = total <= count && offset === 0;
    },
  };
}

/**
 * A table of rows already in the page, shown a page at a time.
 * The caption names the table for assistive technology; it is shown only with showCaption (panels have headings).
 * @param {{caption: string, columns: {label: string, value: (row) => any, numeric?: boolean}[], rows: any[],
 *   pageSize?: number, empty?: string, rowClass?: (row) => string, showCaption?: boolean}} spec
 */
export function dataTable({ caption, columns, rows, pageSize = 20, empty = "Nothing here yet.", rowClass, showCaption = false }) {
  const tbody = h("tbody");
  let offset = 0;
  const paging = pager(caption, (step) => { offset = Math.max(0, offset + step * pageSize); draw(); });
  const table = h("table", { class: "data" },
    h("caption", { class: showCaption ? null : "visually-hidden" }, caption), h("thead", {}, headRow(columns)), tbody);
  function draw() {
    const shown = rows.slice(offset, offset + pageSize);
    fill(tbody, ...(shown.length ? bodyRows(columns, shown, rowClass)
      : [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty))]));
    paging.update(offset, shown.length, rows.length);
  }
  draw();
  return h("div", { class: "table-wrap" }, h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption }, table), paging.nav);
}

/**
 * A table whose pages come from a paginated list of the API.
 * @param {{caption: string, columns: object[], load: (limit: number, offset: number) => Promise<{items: any[],
 *   total: number}>, pageSize?: number, empty?: string, rowClass?: (row) => string}} spec
 * @returns {{element: HTMLElement, reload: () => Promise<void>, ready: Promise<void>}}
 */
export function remoteTable({ caption, columns, load, pageSize = 20, empty = "Nothing here yet.", rowClass }) {
  const tbody = h("tbody");
  const errorBox = h("div", { id: uid("tbl-err") });
  let offset = 0;
  const paging = pager(caption, (step) => { offset = Math.max(0, offset + step * pageSize); reload(); });
  const table = h("table", { class: "data" }, h("caption", { class: "visually-hidden" }, caption), h("thead", {}, headRow(columns)), tbody);
  async function reload() {
    tbody.setAttribute("aria-busy", "true");
    try {
      const page = await load(pageSize, offset);
      if (page.items.length === 0 && offset > 0 && page.total > 0) {
        offset = Math.max(0, Math.floor((page.total - 1) / pageSize) * pageSize);
        return reload();
      }
      fill(tbody, ...(page.items.length ? bodyRows(columns, page.items, rowClass)
        : [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty))]));
      paging.update(offset, page.items.length, page.total);
      fill(errorBox);
    } catch (error) {
      if (error.name === "AbortError") return undefined;
      fill(errorBox, h("p", { class: "message message-error", role: "alert" }, describeError(error)));
    } finally {
      tbody.removeAttribute("aria-busy");
    }
    return undefined;
  }
  const element = h("div", { class: "table-wrap" }, errorBox,
    h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption }, table), paging.nav);
  return { element, reload, ready: reload() };
}
