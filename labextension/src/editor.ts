/**
 * The panel's step editor for the active cell; Apply writes the cell's magic line (a `%%step`
 * cell) or its tags (any other cell) as one step of the notebook's undo, then saves.
 */

import type { Cell } from "@jupyterlab/cells";
import type { NotebookPanel } from "@jupyterlab/notebook";

import { cellSettings, cellTags, markCell } from "./cells";
import { h } from "./dom";
import { saveInTurn } from "./save";
import { type InspectJson, cycleProblem, dependents, stepRows } from "./summary";
import {
  type CellSettings,
  ROLES,
  ROLE_LABELS,
  cellWriteProblem,
  splitPackages,
  stepNameProblem,
  writeCell,
} from "./tags";
import { writeCellTags } from "./undo";

/** What the user changed in the editor and has not applied yet, kept over re-renders. */
export interface Draft {
  cell: Cell;
  /** the cell's settings when the draft began: a draft of a cell changed since is dropped */
  from: string;
  settings: CellSettings;
}

/** What the editor needs of the panel that holds it (read when used: the panel moves on). */
export interface EditorHost {
  notebook(): NotebookPanel | null;
  /** the notebook's pipeline as last read: the steps `after` may name */
  pipeline(): InspectJson | null;
  draft(): Draft | null;
  keepDraft(draft: Draft | null): void;
  /** read the pipeline again, once the applied change is saved */
  refresh(): Promise<void>;
}

export function stepEditor(host: EditorHost): HTMLElement {
  const box = h("section", { class: "kfpj-editor" }, h("h3", {}, "Active cell"));
  const nb = host.notebook();
  if (!nb) return box;
  const cell = nb.content.activeCell;
  // which cell the editor shows (its model's id), so that tests can wait for it to follow a click
  if (cell) box.dataset.kfpCell = cell.model.id;
  if (!cell || cell.model.type !== "code") {
    box.append(h("p", { class: "kfpj-empty" }, "Select a code cell to set its role."));
    return box;
  }
  // the cell's settings, or the user's unapplied changes if the cell did not change since
  let from = JSON.stringify(cellSettings(cell));
  const last = host.draft();
  const draft = last?.cell === cell && last.from === from ? last : null;
  const s: CellSettings = draft ? draft.settings : JSON.parse(from);
  const role = h("select", { "data-kfp-field": "role" });
  for (const r of ROLES) {
    const o = h("option", { value: r }, ROLE_LABELS[r]);
    if (r === s.role) o.selected = true;
    role.append(o);
  }
  box.append(h("label", {}, "Role ", role));
  const stepFields = h("div", { class: "kfpj-step-fields" });
  const input = (field: keyof CellSettings, label: string, value: string, hint = ""): HTMLInputElement => {
    const el = h("input", { "data-kfp-field": field, value, placeholder: hint });
    stepFields.append(h("label", {}, `${label} `, el));
    return el;
  };
  const name = input("name", "Name", s.name, "e.g. train");
  // only steps that cannot close a cycle: none that already runs after this one
  const pipeline = host.pipeline();
  const steps = pipeline ? stepRows(pipeline) : [];
  const later = dependents(steps, s.name);
  const others = steps.map((x) => x.name).filter((n) => n !== s.name && !later.has(n));
  const after = h("select", { "data-kfp-field": "after", multiple: "" });
  for (const n of new Set([...others, ...s.after])) {
    const o = h("option", { value: n }, n);
    if (s.after.includes(n)) o.selected = true;
    after.append(o);
  }
  stepFields.append(h("label", {}, "After ", after));
  // hints say what an empty field means, then an example: never a bare value that could be
  // taken for the step's setting
  const image = input("image", "Image", s.image, imageHint(pipeline, s.name, s.image));
  const packages = input("packages", "Packages", s.packages.join(", "), "extra, e.g. numpy");
  const cpu = input("cpu", "CPU", s.cpu, "no limit; e.g. 2");
  const memory = input("memory", "Memory", s.memory, "no limit; e.g. 4Gi");
  const gpu = input("gpu", "GPU", s.gpu, "none; e.g. 1");
  const retries = input("retries", "Retries", s.retries, "none; e.g. 3");
  const timeout = input("timeout", "Timeout (s)", s.timeout, "none; e.g. 600");
  const cache = h("select", { "data-kfp-field": "cache" });
  for (const [v, t] of [
    ["", "default"],
    ["enabled", "enabled"],
    ["disabled", "disabled"],
  ]) {
    const o = h("option", { value: v }, t);
    if (v === s.cache) o.selected = true;
    cache.append(o);
  }
  stepFields.append(h("label", {}, "Cache ", cache));
  box.append(stepFields);
  const hint = h("div", { class: "kfpj-hint" });
  box.append(hint);
  const showFields = (): void => {
    stepFields.style.display = role.value === "step" ? "" : "none";
  };
  role.onchange = showFields;
  showFields();
  const read = (): CellSettings => ({
    role: role.value as CellSettings["role"],
    name: name.value.trim(),
    after: Array.from(after.selectedOptions).map((o) => o.value),
    image: image.value,
    packages: splitPackages(packages.value),
    cpu: cpu.value,
    memory: memory.value,
    gpu: gpu.value,
    retries: retries.value,
    timeout: timeout.value,
    cache: cache.value as CellSettings["cache"],
  });
  const keepDraft = (): void => host.keepDraft({ cell, from, settings: read() });
  box.addEventListener("input", keepDraft);
  box.addEventListener("change", keepDraft);
  const apply = h("button", { class: "jp-mod-styled jp-mod-accept", "data-kfp-action": "apply" }, "Apply");
  apply.onclick = () => {
    const next = read();
    const source = cell.model.sharedModel.getSource();
    const problem = settingsProblem(next, steps) ?? cellWriteProblem(source, next);
    hint.textContent = problem ?? "";
    if (problem) return;
    const current = host.notebook();
    const notebook = current?.content.model?.sharedModel;
    if (!notebook) return;
    const written = writeCell(source, cellTags(cell), next);
    writeCellTags(notebook, cell.model.sharedModel, written.tags, written.source);
    // what the cell holds now: a change made in this editor before it is rebuilt (the save
    // rebuilds it) is a draft over the applied settings, and survives the rebuild
    from = JSON.stringify(cellSettings(cell));
    host.keepDraft(null);
    markCell(cell);
    apply.blur();
    if (current) void saveInTurn(current.context).then(() => host.refresh());
  };
  box.append(apply);
  return box;
}

/** The image an empty Image field gives the step: the one the notebook's pipeline uses now. */
function imageHint(pipeline: InspectJson | null, name: string, own: string): string {
  // a step with an image of its own shows it in the field; emptied, it gets the pipeline's
  const image = own ? null : pipeline?.steps.find((x) => x.name === name)?.image;
  return image ? `default: ${image}` : "the pipeline's default";
}

/** Why `next` cannot be applied (a bad step name, or `after` closing a cycle), or null. */
function settingsProblem(next: CellSettings, steps: { name: string; after: string[] }[]): string | null {
  if (next.role !== "step") return null;
  const problem = stepNameProblem(next.name);
  if (problem) return problem;
  return cycleProblem(steps, next.name, next.after);
}
