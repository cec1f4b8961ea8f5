/**
 * Run options of "Run pipeline": the pipeline's parameters as typed fields, and the switches
 * `kfp-jupyter run` has (--no-cache, --keep-going, --host-exec), turned into the body of
 * `POST runs` (the engine's `run_local`, as the CLI calls it).
 *
 * Values are sent as typed: the server parses them as the CLI parses `-p NAME=VALUE`
 * (kfp_jupyter/params.py), so the dialog and the command line accept the same values. The dialog
 * stays open until the server took the run, and a value it refused is said next to its field.
 * Only a number that is not one is caught here, as it is typed.
 * Only parameters that differ from their defaults are sent: the run's record then says what the
 * user chose, and a default changed later in the notebook is not overridden by a stale copy.
 *
 * The Submit dialog (submit.ts) takes the parameters the same way.
 *
 * The form is plain DOM and imports nothing from JupyterLab, so everything but its drawing is
 * unit-tested in Node; index.ts puts it in a JupyterLab Dialog.
 */

import { h } from "./dom";
import { isRawJson, parseJson } from "./json";

export type ParamType = "int" | "float" | "bool" | "str" | "list" | "dict";

const TYPES: readonly ParamType[] = ["int", "float", "bool", "str", "list", "dict"];

export interface ParamSpec {
  name: string;
  type: ParamType;
  default: unknown;
}

/** What `GET inspect` says of the parameters (a subset of its JSON, and of its outline). */
export interface ParamsJson {
  parameters?: Record<string, unknown>;
  parameter_types?: Record<string, string>;
}

function typeOf(value: unknown): ParamType {
  if (typeof value === "boolean") return "bool";
  if (isRawJson(value)) return "int"; // too large for a number
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (Array.isArray(value)) return "list";
  if (value !== null && typeof value === "object") return "dict";
  return "str";
}

/** The parameters in notebook order, each with its declared type (else its default's). */
export function paramSpecs(p: ParamsJson): ParamSpec[] {
  return Object.entries(p.parameters ?? {}).map(([name, value]) => {
    const declared = p.parameter_types?.[name];
    const type = TYPES.includes(declared as ParamType) ? (declared as ParamType) : typeOf(value);
    return { name, type, default: value };
  });
}

/** A value as its field shows it: text as typed, a float with its point, lists and dicts as JSON. */
export function formatParam(type: ParamType, value: unknown): string {
  if (type === "str") return typeof value === "string" ? value : JSON.stringify(value);
  if (type === "float" && typeof value === "number" && Number.isInteger(value)) {
    return value.toFixed(1);
  }
  return JSON.stringify(value) ?? "";
}

const EXAMPLES: Record<ParamType, string> = {
  int: "e.g. 3",
  float: "e.g. 0.5",
  bool: "true or false",
  str: "",
  list: "JSON, e.g. [1, 2]",
  dict: 'JSON, e.g. {"a": 1}',
};

/**
 * What is wrong with a number field's text that needs no parsing to see (said for the user, not
 * a CLI), or null; everything else is the server's to judge.
 */
export function quickProblem(type: ParamType, text: string): string | null {
  const t = text.trim();
  if (type === "int") {
    if (!t) return "enter a whole number, e.g. 3";
    if (!/^[+-]?\d+$/.test(t)) return `${JSON.stringify(t)} is not a whole number`;
  }
  if (type === "float" && !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) {
    return t ? `${JSON.stringify(t)} is not a number` : "enter a number, e.g. 0.5";
  }
  return null;
}

/** Whether a field still holds its parameter's default, however it is written ("2" for 2.0). */
function isDefault(spec: ParamSpec, field: string | boolean): boolean {
  if (typeof field === "boolean" || spec.type === "str") return field === spec.default;
  try {
    return sameValue(parseJson(field), spec.default);
  } catch {
    return false; // not JSON, so not the default's JSON: the server reads it (a Python literal)
  }
}

/** The server's messages for refused values (its answer's `fields`), kept for the parameters this
 * form has a field for; null if it refused none of them. */
export function refusedParameters(
  refused: Record<string, string> | undefined,
  specs: ParamSpec[],
): Record<string, string> | null {
  const ours = Object.entries(refused ?? {}).filter(([name]) => specs.some((s) => s.name === name));
  return ours.length ? Object.fromEntries(ours) : null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The same JSON value (keys in any order); 1 and 1.0 are the same number. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (isRawJson(a) || isRawJson(b)) return JSON.stringify(a) === JSON.stringify(b); // digits
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((x, i) => sameValue(x, b[i]))
    );
  }
  if (isObject(a) || isObject(b)) {
    if (!isObject(a) || !isObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameValue(a[k], b[k]));
  }
  return a === b;
}

/** What the dialog holds: each parameter's field (text, or a checkbox for a bool), the switches. */
export interface RunChoices {
  values: Record<string, string | boolean>;
  no_cache: boolean;
  keep_going: boolean;
  host_exec: boolean;
}

/** The body of `POST runs`. */
export interface RunRequest {
  path: string;
  /** a bool as true or false, any other value as its field's text, for the server to parse */
  params: Record<string, string | boolean>;
  no_cache: boolean;
  keep_going: boolean;
  host_exec: boolean;
}

function defaultField(spec: ParamSpec): string | boolean {
  return spec.type === "bool" ? spec.default === true : formatParam(spec.type, spec.default);
}

/**
 * The dialog's first state: every default, then what the user changed last time for this
 * notebook (a parameter they left at its default follows the notebook's current default; one
 * whose type changed since starts again from its default).
 */
export function initialChoices(specs: ParamSpec[], last?: RememberedChoices | null): RunChoices {
  const values: Record<string, string | boolean> = {};
  for (const spec of specs) {
    const field = defaultField(spec);
    const before = last?.changed[spec.name];
    values[spec.name] =
      before && before.type === spec.type && typeof before.field === typeof field
        ? before.field
        : field;
  }
  return {
    values,
    no_cache: last?.choices.no_cache ?? false,
    keep_going: last?.choices.keep_going ?? false,
    host_exec: last?.choices.host_exec ?? false,
  };
}

/**
 * The request for `choices`, or the problems per parameter name (nothing is sent then).
 * Parameters equal to their default are left out.
 */
export function buildRunRequest(
  path: string,
  specs: ParamSpec[],
  choices: RunChoices,
): { request: RunRequest; errors: null } | { request: null; errors: Record<string, string> } {
  const { params, errors } = changedParams(specs, choices.values);
  if (errors) return { request: null, errors };
  return {
    request: {
      path,
      params,
      no_cache: choices.no_cache,
      keep_going: choices.keep_going,
      host_exec: choices.host_exec,
    },
    errors: null,
  };
}

/**
 * The `params` of a run or a submit: only the fields that differ from their parameter's default,
 * a bool as true or false and any other value as its field's text, which the server reads by the
 * parameter's declared type (a str as typed, `2024` too); or the problems per parameter name.
 * Why not every field, parsed here: a default sent back is the one the dialog was opened with,
 * and a number JavaScript rounds (a large int) would be sent changed.
 */
export function changedParams(
  specs: ParamSpec[],
  values: Record<string, string | boolean>,
): { params: Record<string, string | boolean>; errors: Record<string, string> | null } {
  const params: Record<string, string | boolean> = {};
  const errors: Record<string, string> = {};
  for (const spec of specs) {
    const field = values[spec.name] ?? defaultField(spec);
    const problem = typeof field === "boolean" ? null : quickProblem(spec.type, field);
    if (problem) errors[spec.name] = problem;
    else if (!isDefault(spec, field)) params[spec.name] = field;
  }
  return { params, errors: Object.keys(errors).length ? errors : null };
}

/** What is kept of a notebook's last run options: the switches, and the fields the user changed. */
export interface RememberedChoices {
  choices: RunChoices;
  changed: Record<string, { type: ParamType; field: string | boolean }>;
}

const remembered = new Map<string, RememberedChoices>();

/** Keep the options a run was started with, for the next run of the same notebook (this session). */
export function rememberChoices(path: string, specs: ParamSpec[], choices: RunChoices): void {
  const changed: RememberedChoices["changed"] = {};
  for (const spec of specs) {
    const field = choices.values[spec.name];
    if (field !== undefined && field !== defaultField(spec)) {
      changed[spec.name] = { type: spec.type, field };
    }
  }
  remembered.set(path, { choices, changed });
}

export function lastChoices(path: string): RememberedChoices | null {
  return remembered.get(path) ?? null;
}

// ---------------------------------------------------------------------------------------------
// The form (plain DOM).

/** The switches, as the dialog names them (the CLI's flags only in the tooltips). */
export const SWITCHES: { key: "no_cache" | "keep_going" | "host_exec"; label: string; title: string }[] = [
  {
    key: "no_cache",
    label: "Run every step again (ignore the cache)",
    title: "kfp-jupyter run --no-cache",
  },
  {
    key: "keep_going",
    label: "Keep going after a step fails (finish the steps that do not depend on it)",
    title: "kfp-jupyter run --keep-going",
  },
  {
    key: "host_exec",
    label: "Run container and component steps' commands on this machine (no Docker or Podman)",
    title: "kfp-jupyter run --host-exec",
  },
];

const STYLE = `
.kfpj-form .kfpj-field { display: grid; grid-template-columns: 10em 1fr; gap: 2px 8px; margin: 4px 0; align-items: center; }
.kfpj-form .kfpj-field input[type=text], .kfpj-form .kfpj-field textarea { width: 100%; box-sizing: border-box; }
.kfpj-form input::placeholder, .kfpj-form textarea::placeholder { color: var(--jp-ui-font-color3); font-style: italic; opacity: 1; }
.kfpj-form .kfpj-field > label { display: block; margin: 0; }
.kfpj-form .kfpj-type { color: var(--jp-ui-font-color2); font-size: var(--jp-ui-font-size0); }
.kfpj-form .kfpj-field-error { grid-column: 2; color: var(--jp-error-color1); font-size: var(--jp-ui-font-size0); }
.kfpj-form .kfpj-field-error:empty { display: none; }
.kfpj-form .kfpj-invalid { outline: 1px solid var(--jp-error-color1); }
.kfpj-form .kfpj-switch { display: block; margin: 4px 0; }
.kfpj-form fieldset { border: none; padding: 0; margin: 0 0 8px; }
.kfpj-form legend { font-weight: bold; padding: 0; margin-bottom: 4px; }
.kfpj-form .kfpj-form-error { color: var(--jp-error-color1); }
`;

/** A form's node, and its errors shown next to the fields they are about. */
export interface Form<T> {
  node: HTMLElement;
  /** the form's value, or null after showing what to fix */
  read(): T | null;
}

/** The run options form: it also shows the server's refusal of a value at the field. */
export interface RunOptionsForm extends Form<RunRequest> {
  /** Show `message` at the parameter it names; false if it names none (not the form's to show). */
  refused(fields: Record<string, string> | undefined): boolean;
}

/** A labelled field with room for its error below it; `key` names it for the error. */
export function fieldRow(
  label: string,
  hint: string,
  input: HTMLInputElement | HTMLTextAreaElement,
  key: string,
): { row: HTMLElement; error: HTMLElement } {
  const id = `kfpj-field-${key}-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  const error = h("div", { class: "kfpj-field-error", "data-kfp-error-for": key, role: "alert" });
  const name = h("label", { for: id }, label);
  if (hint) name.append(" ", h("span", { class: "kfpj-type" }, hint));
  return { row: h("div", { class: "kfpj-field" }, name, input, error), error };
}

/** Show `errors` (by key) next to their fields, clear the others; true if there were none. */
export function showErrors(
  fields: Record<string, { input: HTMLElement; error: HTMLElement }>,
  errors: Record<string, string>,
  summary: HTMLElement,
): boolean {
  for (const [key, f] of Object.entries(fields)) {
    f.error.textContent = errors[key] ?? "";
    f.input.classList.toggle("kfpj-invalid", key in errors);
    if (key in errors) f.input.setAttribute("aria-invalid", "true");
    else f.input.removeAttribute("aria-invalid");
  }
  const bad = Object.keys(errors);
  summary.textContent = bad.length ? `Fix ${bad.join(", ")} to go on.` : "";
  const first = bad.length ? fields[bad[0]] : undefined;
  first?.input.focus();
  first?.error.scrollIntoView({ block: "nearest" }); // in a dialog that scrolls, below its field
  return bad.length === 0;
}

export function formStyle(): HTMLStyleElement {
  return h("style", {}, STYLE);
}

/**
 * The run options form for `specs`, starting from `choices`; `read()` gives the request for
 * `path` and remembers the choices, or shows what to fix and gives null.
 */
export function runOptionsForm(path: string, specs: ParamSpec[], choices: RunChoices): RunOptionsForm {
  const node = h("div", { class: "kfpj-form kfpj-run-options" }, formStyle());
  const params = paramFields(specs, choices.values);
  const switches = h("fieldset", {}, h("legend", {}, "Options"));
  const boxes: Partial<Record<(typeof SWITCHES)[number]["key"], HTMLInputElement>> = {};
  for (const s of SWITCHES) {
    const box = h("input", { type: "checkbox", "data-kfp-option": s.key });
    box.checked = choices[s.key];
    boxes[s.key] = box;
    switches.append(h("label", { class: "kfpj-switch", title: s.title }, box, " ", s.label));
  }
  const summary = h("div", { class: "kfpj-form-error", role: "alert" });
  node.append(params.node, switches, summary);

  const current = (): RunChoices => ({
    values: params.values(),
    no_cache: boxes.no_cache?.checked ?? false,
    keep_going: boxes.keep_going?.checked ?? false,
    host_exec: boxes.host_exec?.checked ?? false,
  });
  return {
    node,
    read(): RunRequest | null {
      const choices = current();
      const built = buildRunRequest(path, specs, choices);
      if (!showErrors(params.fields, built.errors ?? {}, summary)) return null;
      rememberChoices(path, specs, choices);
      return built.request;
    },
    refused(refused: Record<string, string> | undefined): boolean {
      const errors = refusedParameters(refused, specs);
      if (errors === null) return false;
      showErrors(params.fields, errors, summary);
      return true;
    },
  };
}

/** The parameters' fields, as the Run and Submit dialogs show them. */
export interface ParamFields {
  /** a fieldset "Parameters" (a note when there are none) */
  node: HTMLElement;
  fields: Record<string, { input: HTMLInputElement; error: HTMLElement }>;
  /** each field's text, or a bool's checkbox */
  values(): Record<string, string | boolean>;
}

/**
 * A field per parameter holding `values` (a checkbox for a bool, the default as a placeholder),
 * its type beside its name; an input's `name` is `param:NAME`.
 */
export function paramFields(specs: ParamSpec[], values: Record<string, string | boolean>): ParamFields {
  const node = h("fieldset", {}, h("legend", {}, "Parameters"));
  const fields: Record<string, { input: HTMLInputElement; error: HTMLElement }> = {};
  for (const spec of specs) {
    const value = values[spec.name] ?? defaultField(spec);
    const input = h("input", { "data-kfp-param": spec.name, name: `param:${spec.name}` });
    if (spec.type === "bool") {
      input.type = "checkbox";
      input.checked = value === true;
    } else {
      input.type = "text";
      input.value = typeof value === "string" ? value : "";
      input.spellcheck = false;
      if (spec.type === "int") input.inputMode = "numeric";
      if (spec.type === "float") input.inputMode = "decimal";
      const def = formatParam(spec.type, spec.default);
      input.placeholder = def ? `default: ${def}` : EXAMPLES[spec.type] || "(empty)";
    }
    const { row, error } = fieldRow(spec.name, `(${spec.type})`, input, spec.name);
    fields[spec.name] = { input, error };
    node.append(row);
  }
  if (!specs.length) node.append(h("p", {}, "This pipeline has no parameters."));
  // a field being fixed loses its message as soon as nothing is plainly wrong with it
  node.addEventListener("input", (ev) => {
    const name = (ev.target as HTMLElement).dataset?.kfpParam;
    const spec = specs.find((s) => s.name === name);
    if (!spec || spec.type === "bool" || !fields[spec.name].error.textContent) return;
    if (quickProblem(spec.type, fields[spec.name].input.value) === null) {
      fields[spec.name].error.textContent = "";
      fields[spec.name].input.classList.remove("kfpj-invalid");
    }
  });
  const read = (): Record<string, string | boolean> =>
    Object.fromEntries(
      specs.map((s) => {
        const input = fields[s.name].input;
        return [s.name, s.type === "bool" ? input.checked : input.value];
      }),
    );
  return { node, fields, values: read };
}
