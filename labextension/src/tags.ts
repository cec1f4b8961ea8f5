/**
 * A cell's role and step settings <-> its Kale-compatible tags (the ones the compiler reads, see
 * kfp_jupyter/notebook/grammar.py). Pure functions: no JupyterLab, so they are unit-tested in Node.
 *
 * Writing keeps every tag the editor does not manage (annotation:, label:, secret:, users' own),
 * so editing a cell never loses what was typed by hand.
 */

export type Role =
  | "continue"
  | "step"
  | "imports"
  | "functions"
  | "parameters"
  | "metrics"
  | "skip";

export const ROLES: Role[] = [
  "continue",
  "step",
  "imports",
  "functions",
  "parameters",
  "metrics",
  "skip",
];

export const ROLE_LABELS: Record<Role, string> = {
  continue: "continue previous step",
  step: "step",
  imports: "imports",
  functions: "functions",
  parameters: "pipeline parameters",
  metrics: "pipeline metrics",
  skip: "skip",
};

const ROLE_TAGS: Record<string, Role> = {
  imports: "imports",
  functions: "functions",
  "pipeline-parameters": "parameters",
  "pipeline-metrics": "metrics",
  skip: "skip",
};

export interface CellSettings {
  role: Role;
  name: string;
  after: string[];
  image: string;
  packages: string[];
  cpu: string;
  memory: string;
  gpu: string;
  retries: string;
  timeout: string;
  /** "" (the pipeline's default), "enabled" or "disabled" */
  cache: "" | "enabled" | "disabled";
}

export function emptySettings(): CellSettings {
  return {
    role: "continue",
    name: "",
    after: [],
    image: "",
    packages: [],
    cpu: "",
    memory: "",
    gpu: "",
    retries: "",
    timeout: "",
    cache: "",
  };
}

const GPU_KEYS = new Set(["gpu", "gpus", "nvidia.com/gpu"]);

/** Whether the editor manages this tag (and rewrites it). */
function managed(tag: string): boolean {
  if (tag in ROLE_TAGS) return true;
  const key = tag.split(":", 1)[0];
  if (["step", "prev", "image", "packages", "cache", "retries", "timeout"].includes(key)) {
    return tag.includes(":");
  }
  if (key === "limit") {
    const res = tag.split(":")[1] ?? "";
    return res === "cpu" || res === "memory" || GPU_KEYS.has(res);
  }
  return false;
}

export function parseTags(tags: readonly string[]): CellSettings {
  const s = emptySettings();
  for (const tag of tags) {
    if (tag in ROLE_TAGS) {
      s.role = ROLE_TAGS[tag];
      continue;
    }
    const i = tag.indexOf(":");
    if (i < 0) continue;
    const key = tag.slice(0, i);
    const value = tag.slice(i + 1);
    switch (key) {
      case "step":
        s.role = "step";
        s.name = value;
        break;
      case "prev":
        if (value && !s.after.includes(value)) s.after.push(value);
        break;
      case "image":
        s.image = value;
        break;
      case "packages":
        s.packages.push(...splitList(value));
        break;
      case "cache":
        if (value === "enabled" || value === "disabled") s.cache = value;
        break;
      case "retries":
        s.retries = value;
        break;
      case "timeout":
        s.timeout = value;
        break;
      case "limit": {
        const j = value.lastIndexOf(":");
        if (j < 0) break;
        const res = value.slice(0, j);
        const v = value.slice(j + 1);
        if (res === "cpu") s.cpu = v;
        else if (res === "memory") s.memory = v;
        else if (GPU_KEYS.has(res)) s.gpu = v;
        break;
      }
    }
  }
  return s;
}

export function splitList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

/** Kale's step-name rule, close enough for a hint: letters, digits, _ and -, not a digit first. */
export function stepNameProblem(name: string): string | null {
  if (!name) return "a step needs a name";
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) {
    return "use letters, digits, _ and - (not starting with a digit)";
  }
  return null;
}

/** The cell's new tags: `existing` minus what the editor manages, plus `s` written as tags. */
export function writeTags(existing: readonly string[], s: CellSettings): string[] {
  const kept = existing.filter((t) => !managed(t));
  const out: string[] = [];
  switch (s.role) {
    case "step":
      out.push(`step:${s.name.trim()}`);
      for (const a of s.after) if (a && a !== s.name) out.push(`prev:${a}`);
      if (s.image.trim()) out.push(`image:${s.image.trim()}`);
      for (const pkg of s.packages) out.push(`packages:${pkg}`); // tags cannot hold ","
      if (s.cpu.trim()) out.push(`limit:cpu:${s.cpu.trim()}`);
      if (s.memory.trim()) out.push(`limit:memory:${s.memory.trim()}`);
      if (s.gpu.trim()) out.push(`limit:nvidia.com/gpu:${s.gpu.trim()}`);
      if (s.retries.trim()) out.push(`retries:${s.retries.trim()}`);
      if (s.timeout.trim()) out.push(`timeout:${s.timeout.trim()}`);
      if (s.cache) out.push(`cache:${s.cache}`);
      break;
    case "imports":
    case "functions":
    case "skip":
      out.push(s.role);
      break;
    case "parameters":
      out.push("pipeline-parameters");
      break;
    case "metrics":
      out.push("pipeline-metrics");
      break;
    case "continue":
      break;
  }
  return [...out, ...kept];
}

/** The short label shown on a cell ("step: train", "imports"), or "" for an untagged cell. */
export function roleLabel(s: CellSettings): string {
  if (s.role === "step") return `step: ${s.name}`;
  if (s.role === "continue") return "";
  return ROLE_LABELS[s.role];
}
