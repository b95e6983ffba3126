// The projects this key sees; admins create new ones here.

import { h, fill, field, message, section } from "../dom.js";
import { describeError } from "../api.js";
import { dataTable } from "../table_view.js";
import { pageHeader } from "./common.js";
import { time } from "../format.js";

export async function render(ctx) {
  const isAdmin = ctx.state.whoami && ctx.state.whoami.role === "admin";
  const projects = ctx.state.projects || [];
  const list = dataTable({
    caption: "Projects", rows: projects, empty: "No project yet.",
    columns: [
      { label: "Name", value: (p) => h("button", { type: "button", class: "linklike", onclick: () => { ctx.setProject(p.id); ctx.state.projects = null; ctx.navigate("#/data"); } }, p.name) },
      { label: "Description", value: (p) => p.description || "—" },
      { label: "Created", value: (p) => time(p.created_at) },
    ],
  });
  const parts = [pageHeader("Projects", `Signed in as ${ctx.state.whoami.name} (${ctx.state.whoami.role} key).`),
    h("div", { class: "columns" }, section("Your projects", {}, list), isAdmin ? createForm(ctx) : section("New project", {},
      message("info", "Only an admin key creates projects; ask an admin for a key bound to your project.")))];
  ctx.show(...parts);
}

function createForm(ctx) {
  const name = h("input", { name: "project-name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*", maxlength: 100 });
  const description = h("input", { name: "project-description", maxlength: 10000 });
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", {}, field("Name", name, "Letters, digits, _ . - (starting with a letter or digit)."),
    field("Description", description), h("button", { type: "submit", class: "primary" }, "Create project"), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const project = await ctx.api.post("projects", { name: name.value.trim(), description: description.value });
      ctx.state.projects = null;
      ctx.setProject(project.id);
      ctx.navigate("#/data");
    } catch (error) {
      fill(status, message("error", describeError(error)));
    }
  });
  return section("New project", {}, form);
}
