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

/** Kale's role names, which Kale (and the compiler) read as that role in `step:`/`block:`. */
const KALE_ROLE_STEP_NAMES: Record<string, Role> = {
  skip: "skip",
  imports: "imports",
  functions: "functions",
};

/** Whether the editor manages this tag (and rewrites it). Kale's `block:NAME` is `step:NAME`;
 * a bare `block:`, which Kale reads as no tag, is left as it is. */
function managed(tag: string): boolean {
  if (tag in ROLE_TAGS) return true;
  const key = tag.split(":", 1)[0];
  if (["step", "prev", "image", "packages", "cache", "retries", "timeout"].includes(key)) {
    return tag.includes(":");
  }
  if (key === "block") return tag.length > "block:".length;
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
      case "block": // Kale 1's `step:`
      case "step":
        if (!value) break; // as Kale reads a bare `block:` or `step:`: no tag
        if (value in KALE_ROLE_STEP_NAMES) {
          s.role = KALE_ROLE_STEP_NAMES[value];
          break;
        }
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
        s.packages.push(...splitPackages(value));
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

/**
 * The requirements of a comma-separated list, as the compiler's `split_packages` reads them:
 * a piece that starts with a version operator continues the requirement before it, so that a
 * range stays one requirement (`pandas>=2,<3, numpy` is `pandas>=2,<3` and `numpy`), and a
 * space never splits one (`scikit-learn >= 1.3` is one requirement).
 */
export function splitPackages(text: string): string[] {
  const out: string[] = [];
  for (const piece of text.split(",")) {
    const p = piece.trim();
    if (p && out.length && "<>=!~".includes(p[0])) out[out.length - 1] += "," + p;
    else if (p) out.push(p);
  }
  return out;
}

/**
 * Why `s` cannot be written as tags, or null: notebook tags cannot hold a comma, so a version
 * range (`pandas>=2,<3`) cannot be a `packages:` tag. The advice is the compiler's for such a tag.
 */
export function tagPackagesProblem(s: CellSettings): string | null {
  if (s.role !== "step") return null;
  const range = s.packages.find((p) => p.includes(","));
  if (range === undefined) return null;
  const dist = /^[A-Za-z0-9][A-Za-z0-9._-]*/.exec(range)?.[0] ?? "NAME";
  return (
    `the requirement ${range} contains ',', which notebook tags cannot hold: a version range ` +
    `cannot be one tag; pin one version (e.g. ${dist}==VERSION), or give the range on the ` +
    `cell's magic line instead of tags: %%step ${s.name.trim() || "NAME"} --packages ${shellQuote(range)}`
  );
}

/** Kale's step-name rule, close enough for a hint: letters, digits, _ and -, not a digit first. */
export function stepNameProblem(name: string): string | null {
  if (!name) return "a step needs a name";
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) {
    return "use letters, digits, _ and - (not starting with a digit)";
  }
  return null;
}

/**
 * The cell's new tags: `existing` minus what the editor manages, plus `s` written as tags. A
 * Kale `block:NAME` stays as it is while the step keeps its name (Kale 1 reads no `step:`).
 */
export function writeTags(existing: readonly string[], s: CellSettings): string[] {
  const kept = existing.filter((t) => !managed(t));
  const out: string[] = [];
  const name = s.name.trim();
  const kale = existing.includes(`block:${name}`) && !existing.includes(`step:${name}`);
  switch (s.role) {
    case "step":
      out.push(`${kale ? "block" : "step"}:${name}`);
      for (const a of s.after) if (a && a !== s.name) out.push(`prev:${a}`);
      if (s.image.trim()) out.push(`image:${s.image.trim()}`);
      // tags cannot hold ",": the editor refuses a range first (tagPackagesProblem)
      for (const pkg of s.packages) out.push(`packages:${pkg}`);
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

// ---------------------------------------------------------------------------------------------
// Cell magics: `%%step NAME [--after A B] [--image REF] ...` on the cell's first non-blank line,
// as kfp_jupyter/notebook/grammar.py parses (parse_magic_line) and writes (format_magic_line).

const MAGIC_ROLES: Record<string, Role> = {
  step: "step",
  component: "step",
  container: "step",
  resource: "step",
  notebook: "step",
  imports: "imports",
  functions: "functions",
  pipeline_parameters: "parameters",
  pipeline_metrics: "metrics",
  skip: "skip",
};
const MAGIC_OF_ROLE: Partial<Record<Role, string>> = {
  step: "step",
  imports: "imports",
  functions: "functions",
  parameters: "pipeline_parameters",
  metrics: "pipeline_metrics",
  skip: "skip",
};
const TAKES_VALUE = new Set(["--image", "--packages", "--cpu", "--memory", "--gpu", "--retries", "--timeout"]);

/** A cell magic of ours: the settings the editor manages, and what it keeps as it was. */
export interface MagicCell {
  settings: CellSettings;
  /** the magic's name: step, component, container, resource, imports, ... */
  magic: string;
  /** what the editor does not manage, kept verbatim: first a component's source or a notebook
   * step's path (the magic's second positional word), then --action, --outputs, --label ... */
  kept: string[];
}

/** Split like Python's shlex.split (POSIX): quotes and backslashes; null if a quote is open. */
export function shellSplit(text: string): string[] | null {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return null;
      word = (word ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word = word ?? "";
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === "\\" && '\\"$`\n'.includes(text[i + 1] ?? "")) i++;
        word += text[i];
      }
      if (i >= text.length) return null;
    } else if (c === "\\") {
      if (i + 1 >= text.length) return null;
      word = (word ?? "") + text[++i];
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** Quote like Python's shlex.quote. */
export function shellQuote(word: string): string {
  if (!word) return "''";
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'"'"'`)}'`;
}

/** The magic of a cell's source (its first non-blank line), or null if it has none of ours. */
export function magicLineOf(source: string): { index: number; line: string } | null {
  const lines = source.split("\n");
  const index = lines.findIndex((l) => l.trim());
  if (index < 0) return null;
  const line = lines[index].trim();
  const name = line.startsWith("%%") ? line.slice(2).split(/\s/, 1)[0] : "";
  return name in MAGIC_ROLES ? { index, line: lines[index] } : null;
}

/** Parse our magic line; null if it is not one (or its quotes do not close). */
export function parseMagicLine(line: string): MagicCell | null {
  const words = shellSplit(line.trim().slice(2));
  if (!words || !(words[0] in MAGIC_ROLES)) return null;
  const [magic, ...rest] = words;
  const s = emptySettings();
  s.role = MAGIC_ROLES[magic];
  const kept: string[] = [];
  if (s.role !== "step") return { settings: s, magic, kept };
  let positional = 0;
  for (let i = 0; i < rest.length; i++) {
    let word = rest[i];
    let value: string | undefined;
    const eq = word.indexOf("=");
    if (word.startsWith("--") && eq > 0) [word, value] = [word.slice(0, eq), word.slice(eq + 1)];
    if (!word.startsWith("-")) {
      if (positional++ === 0) s.name = word;
      else if (positional === 2) kept.unshift(word); // a component's source, a notebook's path
      else kept.push(word);
    } else if (word === "--after") {
      if (value !== undefined) s.after.push(value);
      while (i + 1 < rest.length && !rest[i + 1].startsWith("-")) s.after.push(rest[++i]);
    } else if (word === "--no-cache" || word === "--cache") {
      s.cache = word === "--cache" ? "enabled" : "disabled";
    } else if (TAKES_VALUE.has(word)) {
      value = value ?? rest[++i] ?? "";
      if (word === "--packages") s.packages.push(...splitPackages(value));
      else s[word.slice(2) as "image" | "cpu" | "memory" | "gpu" | "retries" | "timeout"] = value;
    } else if (value !== undefined) {
      kept.push(`${word}=${value}`);
    } else {
      kept.push(word); // --label, --annotation, --secret, --limit, --volume, --action, --outputs
      if (i + 1 < rest.length && !rest[i + 1].startsWith("--")) kept.push(rest[++i]);
    }
  }
  s.after = [...new Set(s.after)];
  return { settings: s, magic, kept };
}

/**
 * The magic line for `s`: `%%step NAME --after ... --no-cache`, then what the old line had that
 * the editor does not manage; "" for the role "continue" (the cell loses its magic).
 * A %%component, %%container, %%resource or %%notebook step keeps its magic.
 */
export function formatMagicLine(s: CellSettings, old: MagicCell | null = null): string {
  if (s.role !== "step") return MAGIC_OF_ROLE[s.role] ? `%%${MAGIC_OF_ROLE[s.role]}` : "";
  const kind = old && MAGIC_ROLES[old.magic] === "step" ? old.magic : "step";
  const kept = old && kind === old.magic ? old.kept : [];
  // a component's source and a notebook step's path are positional: right after the name
  const positional = kind === "component" || kind === "notebook";
  const head = positional && kept[0] && !kept[0].startsWith("-") ? [kept[0]] : [];
  const words = [s.name.trim(), ...head];
  const after = s.after.filter((a) => a && a !== s.name);
  if (after.length) words.push("--after", ...after);
  const opt = (flag: string, value: string): void => {
    if (value.trim()) words.push(flag, value.trim());
  };
  opt("--image", s.image);
  opt("--packages", s.packages.join(","));
  opt("--cpu", s.cpu);
  opt("--memory", s.memory);
  opt("--gpu", s.gpu);
  opt("--retries", s.retries);
  opt("--timeout", s.timeout);
  words.push(...kept.slice(head.length));
  if (s.cache) words.push(s.cache === "enabled" ? "--cache" : "--no-cache");
  return `%%${kind} ` + words.map(shellQuote).join(" ");
}

/** Why `s` cannot be written on this cell, or null: a magic line holds what tags cannot. */
export function cellWriteProblem(source: string, s: CellSettings): string | null {
  const m = magicLineOf(source);
  return m && parseMagicLine(m.line) ? null : tagPackagesProblem(s);
}

/** The cell's settings, from its magic if it has one of ours, else from its tags. */
export function parseCell(source: string, tags: readonly string[]): CellSettings {
  const m = magicLineOf(source);
  const parsed = m ? parseMagicLine(m.line) : null;
  return parsed ? parsed.settings : parseTags(tags);
}

/**
 * The cell after an editor action: a magic cell stays a magic cell (its first line rewritten, its
 * body untouched, the editor's tags dropped so they cannot contradict it); a tagged or plain
 * cell gets tags.
 */
export function writeCell(
  source: string,
  tags: readonly string[],
  s: CellSettings,
): { source: string; tags: string[] } {
  const m = magicLineOf(source);
  const old = m ? parseMagicLine(m.line) : null;
  if (!m || !old) return { source, tags: writeTags(tags, s) };
  const lines = source.split("\n");
  const line = formatMagicLine(s, old);
  if (line) lines[m.index] = line;
  else lines.splice(0, m.index + 1);
  return { source: lines.join("\n"), tags: writeTags(tags, emptySettings()) };
}
