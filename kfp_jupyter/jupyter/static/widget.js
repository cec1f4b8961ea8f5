// Built from js/src by `npm run build` (esbuild); edit the sources, not this file.

// src/graph.ts
var GPU_RESOURCE = "nvidia.com/gpu";
function pipelineEdges(p) {
  const names = new Set(p.steps.map((s) => s.name));
  const byName = new Map(p.steps.map((s) => [s.name, s]));
  const edges = /* @__PURE__ */ new Map();
  const add = (source, target) => {
    if (!names.has(source) || !names.has(target) || source === target) return void 0;
    const key = `${source}\0${target}`;
    let e = edges.get(key);
    if (!e) {
      e = { source, target, variables: [] };
      edges.set(key, e);
    }
    return e;
  };
  for (const s of p.steps) {
    for (const a of s.after ?? []) add(a, s.name);
    for (const [variable, producer] of Object.entries(s.input_sources ?? {})) {
      const e = add(producer, s.name);
      const shown = byName.get(producer)?.exports?.[variable]?.variable ?? variable;
      if (e && !e.variables.includes(shown)) e.variables.push(shown);
    }
  }
  for (const e of edges.values()) e.variables.sort();
  return [...edges.values()];
}
function resourceBadges(s) {
  const out = [];
  const res = s.resources ?? {};
  for (const [k, v] of Object.entries(res)) {
    if (k === GPU_RESOURCE) out.unshift(`GPU ${v}`);
    else if (k === "cpu") out.push(`cpu ${v}`);
    else if (k === "memory") out.push(`mem ${v}`);
    else out.push(`${k.split("/").pop()} ${v}`);
  }
  if (s.retries) out.push(`retries ${s.retries}`);
  if (s.timeout) out.push(`timeout ${s.timeout}s`);
  if (s.cache === false) out.push("no cache");
  return out;
}
function seconds(t) {
  if (t === null || t === void 0 || t === "") return null;
  if (typeof t === "number") return t;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms / 1e3;
}
function formatDuration(s) {
  const total = Math.max(0, Math.floor(s));
  const h2 = Math.floor(total / 3600);
  const m = Math.floor(total % 3600 / 60);
  const sec = String(total % 60).padStart(2, "0");
  return h2 ? `${h2}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
function stateText(t, now) {
  if (!t || !t.state) return "";
  const started = seconds(t.started);
  const finished = seconds(t.finished);
  switch (t.state) {
    case "PENDING":
      return "pending";
    case "RUNNING": {
      const el = started !== null ? ` ${formatDuration(now - started)}` : "";
      const attempt = (t.attempt ?? t.attempts ?? 0) > 1 ? ` (try ${t.attempt ?? t.attempts})` : "";
      return `running${el}${attempt}`;
    }
    case "SUCCEEDED": {
      if (started !== null && finished !== null) {
        const d = finished - started;
        return `succeeded in ${d < 10 ? d.toFixed(1) : formatDuration(d)}${d < 10 ? " s" : ""}`;
      }
      return "succeeded";
    }
    case "CACHED":
      return "cached";
    case "FAILED":
      return t.exit_code !== null && t.exit_code !== void 0 ? `failed (exit ${t.exit_code})` : "failed";
    case "SKIPPED":
      return "skipped";
    case "CANCELLED":
      return "cancelled";
    case "INTERRUPTED":
      return "interrupted";
    default:
      return t.state.toLowerCase();
  }
}

// src/layout.ts
var DEFAULTS = {
  nodeSep: 28,
  edgeSep: 10,
  rankSep: 36,
  margin: 16,
  orderIterations: 0,
  positionIterations: 0
};
function layeredLayout(nodes, edges, options = {}) {
  const opt = { ...DEFAULTS, ...options };
  const index = /* @__PURE__ */ new Map();
  nodes.forEach((n2, i) => index.set(n2.id, i));
  const n = nodes.length;
  const seen = /* @__PURE__ */ new Set();
  const es = [];
  for (const edge of edges) {
    const s = index.get(edge.source);
    const t = index.get(edge.target);
    if (s === void 0 || t === void 0 || s === t) continue;
    const key2 = `${s}>${t}`;
    if (seen.has(key2)) continue;
    seen.add(key2);
    es.push({ s, t, edge, reversed: false });
  }
  breakCycles(n, es);
  const preds = Array.from({ length: n }, () => []);
  const succs = Array.from({ length: n }, () => []);
  for (const e of es) {
    succs[e.s].push(e.t);
    preds[e.t].push(e.s);
  }
  const topo = topoOrder(n, preds, succs);
  const layer = new Array(n).fill(0);
  for (const v of topo) for (const p of preds[v]) layer[v] = Math.max(layer[v], layer[p] + 1);
  for (let i = topo.length - 1; i >= 0; i--) {
    const v = topo[i];
    if (succs[v].length === 0 || succs[v].length <= preds[v].length) continue;
    let lowest = Infinity;
    for (const s of succs[v]) lowest = Math.min(lowest, layer[s]);
    if (lowest - 1 > layer[v]) layer[v] = lowest - 1;
  }
  const labelled = es.some((e) => e.edge.label);
  const step = labelled ? 2 : 1;
  const vs = nodes.map((nd, i) => ({
    node: i,
    width: nd.width,
    height: nd.height,
    rank: layer[i] * step,
    up: [],
    down: [],
    x: 0,
    order: 0
  }));
  const chains = [];
  const labelVertex = [];
  const dummyAt = (rank, width2 = 0, height = 0) => {
    vs.push({ node: -1, width: width2, height, rank, up: [], down: [], x: 0, order: 0 });
    return vs.length - 1;
  };
  const trunks = /* @__PURE__ */ new Map();
  for (const e of es) {
    const r0 = vs[e.s].rank;
    const r1 = vs[e.t].rank;
    const chain = [e.s];
    const labelAt = e.edge.label ? labelRank(r0, r1) : -1;
    let trunk = trunks.get(e.s);
    if (!trunk) {
      trunk = [];
      trunks.set(e.s, trunk);
    }
    for (let r = r0 + 1; r < (labelAt >= 0 ? labelAt : r1); r++) {
      const k = r - r0 - 1;
      if (trunk[k] === void 0) trunk[k] = dummyAt(r);
      chain.push(trunk[k]);
    }
    let lv = -1;
    if (labelAt >= 0 && e.edge.label) {
      lv = dummyAt(labelAt, e.edge.label.width, e.edge.label.height);
      chain.push(lv);
    }
    chain.push(e.t);
    for (let i = 0; i + 1 < chain.length; i++) {
      const a = vs[chain[i]];
      if (!a.down.includes(chain[i + 1])) {
        a.down.push(chain[i + 1]);
        vs[chain[i + 1]].up.push(chain[i]);
      }
    }
    chains.push(chain);
    labelVertex.push(lv);
  }
  const maxRank = vs.reduce((m, v) => Math.max(m, v.rank), 0);
  const ranks = Array.from({ length: maxRank + 1 }, () => []);
  const visited = new Uint8Array(vs.length);
  const visit = (start) => {
    const stack = [start];
    while (stack.length) {
      const v = stack.pop();
      if (visited[v]) continue;
      visited[v] = 1;
      ranks[vs[v].rank].push(v);
      for (let i = vs[v].down.length - 1; i >= 0; i--) stack.push(vs[v].down[i]);
    }
  };
  for (const v of topo) if (preds[v].length === 0) visit(v);
  for (let v = 0; v < vs.length; v++) if (!visited[v]) visit(v);
  setOrder(vs, ranks);
  const key = new Float64Array(vs.length);
  let best = ranks.map((r) => r.slice());
  let bestCrossings = countCrossings(vs, ranks);
  let stale = 0;
  const budget = (most, least) => Math.max(least, Math.min(most, Math.floor(6e4 / Math.max(1, vs.length))));
  const orderIterations = opt.orderIterations || budget(24, 6);
  const positionIterations = opt.positionIterations || budget(8, 4);
  for (let it = 0; it < orderIterations && bestCrossings > 0 && stale < 4; it++) {
    if (it % 2 === 0) {
      for (let r = 1; r < ranks.length; r++) sortByBarycenter(vs, ranks[r], "up", key);
    } else {
      for (let r = ranks.length - 2; r >= 0; r--) sortByBarycenter(vs, ranks[r], "down", key);
    }
    const c = countCrossings(vs, ranks);
    if (c < bestCrossings) {
      bestCrossings = c;
      best = ranks.map((r) => r.slice());
      stale = 0;
    } else {
      stale++;
    }
  }
  for (let r = 0; r < ranks.length; r++) ranks[r] = best[r];
  setOrder(vs, ranks);
  const V = vs.length;
  const X = new Float64Array(V);
  const Wd = new Float64Array(V);
  const dummy = new Uint8Array(V);
  vs.forEach((v, i) => {
    Wd[i] = v.width;
    dummy[i] = v.node < 0 ? 1 : 0;
  });
  const mixedSep = (opt.nodeSep + opt.edgeSep) / 2;
  const SEP = [opt.nodeSep, mixedSep, opt.edgeSep];
  const WEIGHT = [1, 2, 8];
  const rankSeps = ranks.map((rank) => {
    const seps = new Float64Array(rank.length);
    for (let i = 1; i < rank.length; i++) {
      const a = rank[i - 1];
      const b = rank[i];
      seps[i] = (Wd[a] + Wd[b]) / 2 + SEP[dummy[a] + dummy[b]];
    }
    return seps;
  });
  for (let r = 0; r < ranks.length; r++) {
    let x = 0;
    ranks[r].forEach((v, i) => {
      x += rankSeps[r][i];
      X[v] = x;
    });
  }
  const width = ranks.reduce((m, r) => Math.max(m, r.length), 0);
  const target = new Float64Array(width);
  const wt = new Float64Array(width);
  const off = new Float64Array(width);
  const blockMean = new Float64Array(width);
  const blockW = new Float64Array(width);
  const blockN = new Int32Array(width);
  const place = (r, up, down) => {
    const rank = ranks[r];
    const seps = rankSeps[r];
    for (let i2 = 0; i2 < rank.length; i2++) {
      const v = rank[i2];
      let sw = 0;
      let sx = 0;
      if (up) {
        for (const u of vs[v].up) {
          const k = WEIGHT[dummy[v] + dummy[u]];
          sw += k;
          sx += k * X[u];
        }
      }
      if (down) {
        for (const u of vs[v].down) {
          const k = WEIGHT[dummy[v] + dummy[u]];
          sw += k;
          sx += k * X[u];
        }
      }
      target[i2] = sw === 0 ? X[v] : sx / sw;
      wt[i2] = sw === 0 ? 0.05 : sw;
    }
    let c = 0;
    let blocks = 0;
    for (let i2 = 0; i2 < rank.length; i2++) {
      c += seps[i2];
      off[i2] = c;
      let m = target[i2] - c;
      let w = wt[i2];
      let n2 = 1;
      while (blocks > 0 && blockMean[blocks - 1] > m) {
        blocks--;
        m = (blockMean[blocks] * blockW[blocks] + m * w) / (blockW[blocks] + w);
        w += blockW[blocks];
        n2 += blockN[blocks];
      }
      blockMean[blocks] = m;
      blockW[blocks] = w;
      blockN[blocks] = n2;
      blocks++;
    }
    let i = 0;
    for (let b = 0; b < blocks; b++) {
      for (let j = 0; j < blockN[b]; j++, i++) X[rank[i]] = blockMean[b] + off[i];
    }
  };
  for (let it = 0; it < positionIterations; it++) {
    for (let r = 1; r < ranks.length; r++) place(r, true, false);
    for (let r = ranks.length - 2; r >= 0; r--) place(r, false, true);
  }
  for (let it = 0; it < 2; it++) for (let r = 0; r < ranks.length; r++) place(r, true, true);
  vs.forEach((v, i) => {
    v.x = X[i];
  });
  let minX = Infinity;
  let maxX = -Infinity;
  for (const v of vs) {
    minX = Math.min(minX, v.x - v.width / 2);
    maxX = Math.max(maxX, v.x + v.width / 2);
  }
  if (!Number.isFinite(minX)) minX = maxX = 0;
  const rankY = [];
  let y = opt.margin;
  for (let r = 0; r < ranks.length; r++) {
    let h2 = 0;
    for (const v of ranks[r]) h2 = Math.max(h2, vs[v].height);
    const sep = labelled ? opt.rankSep / 2 : opt.rankSep;
    if (r > 0) y += sep;
    rankY.push(y + h2 / 2);
    y += h2;
  }
  const dx = opt.margin - minX;
  const placed = /* @__PURE__ */ new Map();
  nodes.forEach((nd, i) => {
    const v = vs[i];
    placed.set(nd.id, {
      id: nd.id,
      x: v.x + dx,
      y: rankY[v.rank],
      width: nd.width,
      height: nd.height,
      rank: layer[i]
    });
  });
  const outPorts = portOffsets(n, es, chains, vs, "out");
  const inPorts = portOffsets(n, es, chains, vs, "in");
  const placedEdges = es.map((e, k) => {
    const chain = chains[k];
    const a = vs[e.s];
    const b = vs[e.t];
    const pts = [{ x: a.x + dx + outPorts[k], y: rankY[a.rank] + a.height / 2 }];
    for (let i = 1; i + 1 < chain.length; i++) {
      const x = vs[chain[i]].x;
      const straight = i > 1 && chain[i] !== labelVertex[k] && Math.abs(vs[chain[i - 1]].x - x) < 0.5 && Math.abs(vs[chain[i + 1]].x - x) < 0.5 && chain[i + 1] !== e.t;
      if (!straight) pts.push({ x: x + dx, y: rankY[vs[chain[i]].rank] });
    }
    pts.push({ x: b.x + dx + inPorts[k], y: rankY[b.rank] - b.height / 2 });
    const lv = labelVertex[k];
    const label = lv >= 0 ? { x: vs[lv].x + dx, y: rankY[vs[lv].rank] } : void 0;
    if (e.reversed) pts.reverse();
    return {
      source: e.reversed ? nodes[e.t].id : nodes[e.s].id,
      target: e.reversed ? nodes[e.s].id : nodes[e.t].id,
      points: pts,
      label
    };
  });
  return {
    width: maxX - minX + 2 * opt.margin,
    height: y + opt.margin,
    nodes: placed,
    edges: placedEdges,
    crossings: bestCrossings
  };
}
function labelRank(_r0, r1) {
  return r1 - 1;
}
function breakCycles(n, es) {
  const out = Array.from({ length: n }, () => []);
  es.forEach((e, i) => out[e.s].push(i));
  const state = new Uint8Array(n);
  for (let root = 0; root < n; root++) {
    if (state[root]) continue;
    const stack = [[root, 0]];
    state[root] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [v, i] = top;
      if (i >= out[v].length) {
        state[v] = 2;
        stack.pop();
        continue;
      }
      top[1]++;
      const e = es[out[v][i]];
      if (state[e.t] === 1) {
        e.reversed = true;
      } else if (state[e.t] === 0) {
        state[e.t] = 1;
        stack.push([e.t, 0]);
      }
    }
  }
  for (const e of es) {
    if (e.reversed) [e.s, e.t] = [e.t, e.s];
  }
}
function topoOrder(n, preds, succs) {
  const indeg = preds.map((p) => p.length);
  const ready = [];
  for (let v = n - 1; v >= 0; v--) if (indeg[v] === 0) ready.push(v);
  const order = [];
  while (ready.length) {
    const v = ready.pop();
    order.push(v);
    const next = [];
    for (const s of succs[v]) if (--indeg[s] === 0) next.push(s);
    next.sort((a, b) => b - a);
    for (const s of next) ready.push(s);
    ready.sort((a, b) => b - a);
  }
  return order;
}
function setOrder(vs, ranks) {
  for (const rank of ranks) rank.forEach((v, i) => vs[v].order = i);
}
function sortByBarycenter(vs, rank, side, key) {
  for (let i = 0; i < rank.length; i++) {
    const v = rank[i];
    const nbs = side === "up" ? vs[v].up : vs[v].down;
    if (nbs.length === 0) {
      key[v] = i;
      continue;
    }
    let sum = 0;
    for (const u of nbs) sum += vs[u].order;
    key[v] = sum / nbs.length;
  }
  rank.sort((a, b) => key[a] - key[b] || vs[a].order - vs[b].order);
  for (let i = 0; i < rank.length; i++) vs[rank[i]].order = i;
}
function countCrossings(vs, ranks) {
  let total = 0;
  for (let r = 0; r + 1 < ranks.length; r++) {
    const south = ranks[r + 1].length;
    if (south < 2) continue;
    const ends = [];
    for (const v of ranks[r]) {
      const down = vs[v].down;
      if (down.length === 1) {
        ends.push(vs[down[0]].order);
        continue;
      }
      const ps = down.map((u) => vs[u].order).sort((a, b) => a - b);
      for (const p of ps) ends.push(p);
    }
    let first = 1;
    while (first < south) first *= 2;
    const tree = new Array(2 * first - 1).fill(0);
    first -= 1;
    for (const p of ends) {
      let i = p + first;
      tree[i]++;
      while (i > 0) {
        if (i % 2) total += tree[i + 1];
        i = i - 1 >> 1;
        tree[i]++;
      }
    }
  }
  return total;
}
function portOffsets(n, es, chains, vs, side) {
  const out = new Array(es.length).fill(0);
  const byNode = Array.from({ length: n }, () => []);
  es.forEach((e, k) => byNode[side === "out" ? e.s : e.t].push(k));
  const hop = (k) => {
    const chain = chains[k];
    return side === "out" ? chain[1] : chain[chain.length - 2];
  };
  byNode.forEach((ks, v) => {
    const hops = [...new Set(ks.map(hop))].sort((a, b) => vs[a].x - vs[b].x);
    if (hops.length < 2) return;
    const spread = Math.min(14, vs[v].width * 0.7 / hops.length);
    const offset = new Map(hops.map((h2, i) => [h2, (i - (hops.length - 1) / 2) * spread]));
    for (const k of ks) out[k] = offset.get(hop(k));
  });
  return out;
}

// src/style.ts
var DAG_CSS = `
.kfp-dag {
  --kfp-fg: var(--jp-ui-font-color1, #1f2328);
  --kfp-muted: var(--jp-ui-font-color2, #59636e);
  --kfp-bg: var(--jp-layout-color1, #ffffff);
  --kfp-bg2: var(--jp-layout-color2, #f3f4f6);
  --kfp-border: var(--jp-border-color1, #b8c0c8);
  --kfp-accent: var(--jp-brand-color1, #1976d2);
  --kfp-none: #8c959f;
  --kfp-pending: #8c959f;
  --kfp-running: #1976d2;
  --kfp-succeeded: #2e7d32;
  --kfp-cached: #00838f;
  --kfp-failed: #c62828;
  --kfp-skipped: #a0a7ae;
  --kfp-cancelled: #ef6c00;
  --kfp-interrupted: #8d6e63;
  position: relative;
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  color: var(--kfp-fg);
  background: var(--kfp-bg);
  border: 1px solid var(--kfp-border);
  border-radius: 4px;
  overflow: hidden;
  outline: none;
  user-select: none;
}
.kfp-dag:focus-visible { box-shadow: 0 0 0 2px var(--kfp-accent); }
.kfp-dag svg.kfp-dag-svg { display: block; width: 100%; cursor: grab; touch-action: none; }
.kfp-dag svg.kfp-dag-svg.kfp-panning { cursor: grabbing; }
/* the tools and the hint sit in a bar of their own below the drawing, never over a node */
.kfp-dag-bar {
  display: flex; flex-wrap: wrap-reverse; justify-content: space-between; align-items: center;
  gap: 4px; padding: 3px 6px; border-top: 1px solid var(--kfp-border); background: var(--kfp-bg);
}
.kfp-dag-tools { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; margin-left: auto;
  max-width: 100%; }
.kfp-dag-tools button, .kfp-dag-tools input {
  font: inherit; font-size: 12px; height: 24px; border: 1px solid var(--kfp-border);
  background: var(--kfp-bg); color: var(--kfp-fg); border-radius: 3px;
}
.kfp-dag-tools button { min-width: 26px; cursor: pointer; padding: 0 6px; }
.kfp-dag-tools button:hover { background: var(--kfp-bg2); }
.kfp-dag-tools input { width: 130px; min-width: 70px; flex: 0 1 130px; padding: 0 6px; }
.kfp-dag-hint { font-size: 11px; color: var(--kfp-muted); pointer-events: none; }
.kfp-dag-empty { padding: 24px; color: var(--kfp-muted); font-size: 13px; }

.kfp-edge path { fill: none; stroke: var(--kfp-border); stroke-width: 1.4; }
.kfp-edge.kfp-order-only path { stroke-dasharray: 4 3; }
.kfp-edge.kfp-edge-hl path { stroke: var(--kfp-accent); stroke-width: 2.2; }
.kfp-edge-label rect { fill: var(--kfp-bg); stroke: var(--kfp-border); stroke-width: 0.6; }
.kfp-edge-label text { font-size: 11px; fill: var(--kfp-muted); }
.kfp-edge-label.kfp-edge-hl rect { stroke: var(--kfp-accent); }
.kfp-edge-label.kfp-edge-hl text { fill: var(--kfp-fg); }
.kfp-arrow { fill: var(--kfp-border); }

.kfp-node { cursor: pointer; --kfp-state: var(--kfp-none); }
.kfp-node .kfp-node-box {
  fill: color-mix(in srgb, var(--kfp-state) 10%, var(--kfp-bg));
  stroke: var(--kfp-state); stroke-width: 1.3;
}
.kfp-node .kfp-node-stripe { fill: var(--kfp-state); }
.kfp-node text { fill: var(--kfp-fg); font-size: 11px; }
.kfp-node .kfp-node-name { font-size: 13px; font-weight: 600; }
.kfp-node .kfp-node-image { fill: var(--kfp-muted); }
.kfp-node .kfp-node-badges { fill: var(--kfp-muted); }
.kfp-node .kfp-badge-gpu { fill: #6a1b9a; font-weight: 600; }
.kfp-node .kfp-node-state { fill: var(--kfp-state); font-weight: 600; }
.kfp-node .kfp-node-kind { fill: var(--kfp-muted); font-size: 10px; font-style: italic; }
/* steps the notebook does not run as its own Python: square corners and a double left edge */
.kfp-node:not([data-kfp-kind="python"]) .kfp-node-stripe { width: 8px; fill: none;
  stroke: var(--kfp-state); stroke-width: 2; }
.kfp-node[data-kfp-problem] .kfp-node-box { stroke: var(--kfp-failed); stroke-width: 2.2;
  stroke-dasharray: 5 3; }
.kfp-node:hover .kfp-node-box { stroke-width: 2.2; }
.kfp-node.kfp-selected .kfp-node-box { stroke: var(--kfp-accent); stroke-width: 3; }
.kfp-node[data-kfp-state="PENDING"] { --kfp-state: var(--kfp-pending); }
.kfp-node[data-kfp-state="RUNNING"] { --kfp-state: var(--kfp-running); }
.kfp-node[data-kfp-state="RUNNING"] .kfp-node-box {
  stroke-dasharray: 6 3; animation: kfp-dash 0.9s linear infinite;
}
.kfp-node[data-kfp-state="SUCCEEDED"] { --kfp-state: var(--kfp-succeeded); }
.kfp-node[data-kfp-state="CACHED"] { --kfp-state: var(--kfp-cached); }
.kfp-node[data-kfp-state="FAILED"] { --kfp-state: var(--kfp-failed); }
.kfp-node[data-kfp-state="FAILED"] .kfp-node-box { stroke-width: 2.2; }
.kfp-node[data-kfp-state="SKIPPED"] { --kfp-state: var(--kfp-skipped); }
.kfp-node[data-kfp-state="SKIPPED"] .kfp-node-box { stroke-dasharray: 3 3; }
.kfp-node[data-kfp-state="SKIPPED"] .kfp-node-name { fill: var(--kfp-muted); }
.kfp-node[data-kfp-state="CANCELLED"] { --kfp-state: var(--kfp-cancelled); }
.kfp-node[data-kfp-state="INTERRUPTED"] { --kfp-state: var(--kfp-interrupted); }
@keyframes kfp-dash { to { stroke-dashoffset: -9; } }
@media (prefers-reduced-motion: reduce) {
  .kfp-node[data-kfp-state="RUNNING"] .kfp-node-box { animation: none; }
}

/* Level of detail: far out, only what can still be read is drawn (and drawing stays fast). */
.kfp-lod-mid .kfp-edge-label, .kfp-lod-mid .kfp-node-image, .kfp-lod-mid .kfp-node-badges {
  display: none;
}
.kfp-lod-mid .kfp-node-kind { display: none; }
.kfp-lod-low .kfp-edge-label, .kfp-lod-low .kfp-node text { display: none; }
`;
var STYLE_ID = "kfp-dag-style";
function ensureStyle(el, id = STYLE_ID, css = DAG_CSS) {
  const root = el.getRootNode();
  const host = root instanceof ShadowRoot || root instanceof Document ? root : el.ownerDocument;
  if (host.getElementById?.(id) ?? host.querySelector?.(`#${id}`)) return;
  const style = el.ownerDocument.createElement("style");
  style.id = id;
  style.textContent = css;
  if (host instanceof ShadowRoot) host.appendChild(style);
  else (host.head ?? host.documentElement).appendChild(style);
}

// src/dom.ts
function h(doc, tag, attrs = {}, ...children) {
  const el = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c);
  return el;
}

// src/details.ts
var DETAILS_CSS = `
.kfp-details h4 { margin: 8px 0 2px; font-size: 12px; }
.kfp-details header { display: flex; justify-content: space-between; align-items: center;
  font-weight: 600; font-size: 14px; }
.kfp-details header button { font: inherit; font-size: 12px; height: 20px; padding: 0 6px;
  cursor: pointer; }
.kfp-details table { border-collapse: collapse; width: 100%; font-size: 12px; }
.kfp-details td, .kfp-details th { text-align: left; padding: 1px 4px;
  border-bottom: 1px solid var(--jp-border-color2, #e1e4e8); }
.kfp-details pre { font-size: 11px; max-height: 220px; overflow: auto; margin: 2px 0;
  background: var(--jp-layout-color2, #f3f4f6); padding: 4px; white-space: pre-wrap; }
.kfp-details pre.kfp-details-error { background: #ffebee; color: #7f1010;
  border-left: 3px solid #c62828; }
.kfp-details .kfp-muted { color: var(--jp-ui-font-color2, #59636e); }
`;
function formatSize(n) {
  if (n === null || n === void 0) return "";
  if (n < 1e3) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  while (v >= 1e3 && i < units.length - 1) {
    v /= 1e3;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
function formatValue(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  return typeof v === "string" ? v : JSON.stringify(v);
}
function logWithoutError(d) {
  const tail = d.log_tail ?? "";
  if (!d.error || !tail.startsWith(d.error)) return tail;
  return tail.slice(d.error.length).replace(/^\s*log:\n/, "").replace(/^\n+/, "");
}
function renderDetails(box, d, onClose, actions = {}) {
  const doc = box.ownerDocument;
  ensureStyle(box, "kfp-details-style", DETAILS_CSS);
  const header = h(doc, "header", {}, h(doc, "span", {}, d.step ?? ""));
  if (onClose) {
    const close = h(doc, "button", { type: "button", title: "close" }, "×");
    close.addEventListener("click", onClose);
    header.append(close);
  }
  const items = [header];
  const line = [d.state ? d.state.toLowerCase() : "not run yet", d.message].filter(Boolean).join(" — ");
  items.push(h(doc, "div", { class: "kfp-muted", "data-kfp-detail": "state" }, line));
  const res = Object.entries(d.resources ?? {}).map(([k, v]) => `${k}=${v}`).join(", ");
  const kind = d.kind && d.kind !== "python" ? `${d.kind} step` : "";
  items.push(h(doc, "div", { class: "kfp-muted" }, [kind, d.image, res].filter(Boolean).join(" · ")));
  if (d.error) {
    items.push(h(doc, "h4", {}, "error"));
    items.push(h(doc, "pre", { class: "kfp-details-error", "data-kfp-detail": "error" }, d.error));
  }
  const table = (what, rows, producer) => {
    items.push(h(doc, "h4", {}, what));
    if (!rows.length) {
      items.push(h(doc, "div", { class: "kfp-muted" }, "none"));
      return;
    }
    const head = h(doc, "tr", {}, h(doc, "th", {}, "name"));
    if (producer) head.append(h(doc, "th", {}, "from"));
    head.append(h(doc, "th", {}, "type"), h(doc, "th", {}, "size"));
    const t = h(doc, "table", { "data-kfp-detail": what }, head);
    for (const a of rows) {
      const tr = h(doc, "tr", {}, h(doc, "td", {}, a.name));
      if (producer) tr.append(h(doc, "td", {}, a.producer ?? ""));
      tr.append(h(doc, "td", {}, a.type ?? ""), h(doc, "td", {}, formatSize(a.size)));
      t.append(tr);
    }
    items.push(t);
  };
  const params = Object.entries(d.parameters ?? {});
  if (params.length) {
    items.push(h(doc, "h4", {}, "parameters"));
    items.push(
      h(doc, "div", { "data-kfp-detail": "parameters" }, params.map(([k, v]) => `${k} = ${formatValue(v)}`).join(", "))
    );
  }
  table("inputs", d.inputs ?? [], true);
  const load = actions.loadInputs;
  if (load && d.inputs_loadable) {
    const button = h(
      doc,
      "button",
      {
        type: "button",
        "data-kfp-action": "load-inputs",
        title: "the values this step received in this run, to run its cell by hand (%kfp inputs)"
      },
      "load inputs into the kernel"
    );
    button.addEventListener("click", () => load(d));
    items.push(h(doc, "div", {}, button));
  }
  table("outputs", d.outputs ?? [], false);
  const metrics = Object.entries(d.metrics ?? {});
  if (metrics.length) {
    items.push(h(doc, "h4", {}, "metrics"));
    const t = h(doc, "table", { "data-kfp-detail": "metrics" });
    for (const [k, v] of metrics) t.append(h(doc, "tr", {}, h(doc, "td", {}, k), h(doc, "td", {}, formatValue(v))));
    items.push(t);
  }
  const log = logWithoutError(d);
  if (log) {
    items.push(h(doc, "h4", {}, "log (last lines)"));
    items.push(h(doc, "pre", { "data-kfp-detail": "log" }, log));
  }
  if (d.note) items.push(h(doc, "div", { class: "kfp-muted" }, d.note));
  box.classList.add("kfp-details");
  box.replaceChildren(...items);
}

// src/dag.ts
var NODE_WIDTH = 200;
var NODE_HEIGHT = 72;
var LABEL_HEIGHT = 16;
var LABEL_MAX_CHARS = 24;
var MIN_SCALE = 0.08;
var MAX_SCALE = 3;
var READABLE_SCALE = 0.6;
var esc = (s) => s.replace(
  /[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]
);
var clip = (s, max) => s.length > max ? `${s.slice(0, max - 1)}…` : s;
function edgeLabel(variables, max = LABEL_MAX_CHARS) {
  let text = "";
  let shown = 0;
  for (const v of variables) {
    const next = text ? `${text}, ${v}` : v;
    const rest = variables.length - shown - 1;
    if (next.length + (rest ? ` +${rest}`.length : 0) > max && shown > 0) break;
    text = next;
    shown++;
  }
  if (shown === 0) return "";
  text = clip(text, max);
  return shown < variables.length ? `${text} +${variables.length - shown}` : text;
}
function labelWidth(text) {
  return Math.ceil(text.length * 6.2) + 10;
}
function shortImage(image) {
  if (!image) return "";
  const parts = image.split("/");
  return parts[parts.length - 1];
}
function nodeTitle(s, t) {
  const lines = [s.name];
  if (s.image) lines.push(`image: ${s.image}`);
  if (s.packages?.length) lines.push(`packages: ${s.packages.join(", ")}`);
  if (s.inputs?.length) lines.push(`inputs: ${s.inputs.join(", ")}`);
  if (s.outputs?.length) lines.push(`outputs: ${s.outputs.join(", ")}`);
  if (s.parameters?.length) lines.push(`parameters: ${s.parameters.join(", ")}`);
  if (t?.state) lines.push(`state: ${t.state}${t.message ? ` — ${t.message}` : ""}`);
  return lines.join("\n");
}
function kindTag(kind) {
  switch (kind) {
    case "component":
      return "◆ component";
    case "container":
      return "▣ container";
    case "resource":
      return "☸ resource";
    default:
      return "";
  }
}
function edgePath(points) {
  let d = `M${points[0].x.toFixed(1)},${points[0].y.toFixed(1)}`;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    const dy = (b.y - a.y) / 2;
    d += `C${a.x.toFixed(1)},${(a.y + dy).toFixed(1)} ${b.x.toFixed(1)},${(b.y - dy).toFixed(1)} ${b.x.toFixed(1)},${b.y.toFixed(1)}`;
  }
  return d;
}
var uid = 0;
function renderDag(container, pipeline, options = {}) {
  ensureStyle(container);
  const doc = container.ownerDocument;
  const id = `kfp-dag-${++uid}`;
  const steps = pipeline.steps ?? [];
  const edges = pipelineEdges(pipeline);
  const labels = edges.map((e) => edgeLabel(e.variables));
  const layout = layeredLayout(
    steps.map((s) => ({ id: s.name, width: NODE_WIDTH, height: NODE_HEIGHT })),
    edges.map((e, i) => ({
      source: e.source,
      target: e.target,
      label: labels[i] ? { width: labelWidth(labels[i]), height: LABEL_HEIGHT } : void 0
    }))
  );
  const now = options.now ?? (() => Date.now() / 1e3);
  const root = doc.createElement("div");
  root.className = "kfp-dag";
  root.tabIndex = 0;
  root.setAttribute("data-kfp-dag", pipeline.name ?? "");
  container.replaceChildren(root);
  if (steps.length === 0) {
    root.innerHTML = `<div class="kfp-dag-empty">This pipeline has no steps yet.</div>`;
  }
  const viewHeight = () => {
    if (options.height) return options.height;
    return Math.max(options.fitWidth ? 80 : 160, Math.min(options.maxHeight ?? 560, Math.ceil(layout.height) + 12));
  };
  const initialWidth = root.clientWidth || container.clientWidth || 800;
  const parts = [];
  parts.push(
    `<svg class="kfp-dag-svg" style="height:${viewHeight()}px" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="pipeline ${esc(pipeline.name ?? "")}">`,
    `<defs><marker id="${id}-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path class="kfp-arrow" d="M0,0L10,5L0,10z"/></marker></defs>`,
    `<g class="kfp-dag-viewport"><g class="kfp-edges">`
  );
  const placed = layout.edges;
  const edgeOf = /* @__PURE__ */ new Map();
  edges.forEach((e, i) => edgeOf.set(`${e.source}\0${e.target}`, i));
  placed.forEach((pe, k2) => {
    const i = edgeOf.get(`${pe.source}\0${pe.target}`) ?? k2;
    const e = edges[i];
    const cls = e.variables.length ? "kfp-edge" : "kfp-edge kfp-order-only";
    parts.push(
      `<g class="${cls}" data-kfp-source="${esc(pe.source)}" data-kfp-target="${esc(pe.target)}">`,
      `<path d="${edgePath(pe.points)}" marker-end="url(#${id}-arrow)"/></g>`
    );
  });
  parts.push(`</g><g class="kfp-edge-labels">`);
  placed.forEach((pe, k2) => {
    const i = edgeOf.get(`${pe.source}\0${pe.target}`) ?? k2;
    const text = labels[i];
    if (!text || !pe.label) return;
    const w = labelWidth(text);
    parts.push(
      `<g class="kfp-edge-label" data-kfp-source="${esc(pe.source)}" data-kfp-target="${esc(pe.target)}" transform="translate(${pe.label.x.toFixed(1)},${pe.label.y.toFixed(1)})">`,
      `<title>${esc(edges[i].variables.join(", "))}</title>`,
      `<rect x="${-w / 2}" y="${-LABEL_HEIGHT / 2}" width="${w}" height="${LABEL_HEIGHT}" rx="3"/>`,
      `<text text-anchor="middle" dominant-baseline="central">${esc(text)}</text></g>`
    );
  });
  parts.push(`</g><g class="kfp-nodes">`);
  const W = NODE_WIDTH;
  const H = NODE_HEIGHT;
  for (const s of steps) {
    const p = layout.nodes.get(s.name);
    if (!p) continue;
    const badges = resourceBadges(s);
    const badgeSvg = badges.map((b, i) => {
      const sep = i ? " · " : "";
      return b.startsWith("GPU ") ? `${sep}<tspan class="kfp-badge-gpu">${esc(b)}</tspan>` : `${sep}${esc(b)}`;
    }).join("");
    const kind = s.kind || "python";
    const tag = kindTag(kind);
    parts.push(
      `<g class="kfp-node" data-kfp-step="${esc(s.name)}" data-kfp-kind="${esc(kind)}" data-kfp-state="NONE" transform="translate(${(p.x - W / 2).toFixed(1)},${(p.y - H / 2).toFixed(1)})">`,
      `<title>${esc(nodeTitle(s, void 0))}</title>`,
      `<rect class="kfp-node-box" width="${W}" height="${H}" rx="${kind === "python" ? 6 : 1}"/>`,
      tag ? `<text class="kfp-node-kind" x="${W - 6}" y="64" text-anchor="end">${esc(tag)}</text>` : "",
      `<rect class="kfp-node-stripe" width="5" height="${H}" rx="2"/>`,
      `<text class="kfp-node-name" x="13" y="19">${esc(clip(s.name, 24))}</text>`,
      `<text class="kfp-node-image" x="13" y="34">${esc(clip(shortImage(s.image), 30))}</text>`,
      `<text class="kfp-node-badges" x="13" y="49">${badgeSvg}</text>`,
      `<text class="kfp-node-state" x="13" y="64"></text>`,
      `</g>`
    );
  }
  parts.push(`</g></g></svg>`);
  parts.push(
    `<div class="kfp-dag-bar">`,
    `<div class="kfp-dag-hint">${steps.length} step${steps.length === 1 ? "" : "s"} · drag to pan · Ctrl+wheel to zoom</div>`,
    `<div class="kfp-dag-tools">`,
    `<input class="kfp-dag-find" type="search" placeholder="find step" list="${id}-steps" aria-label="find a step">`,
    `<datalist id="${id}-steps">${steps.map((s) => `<option value="${esc(s.name)}"></option>`).join("")}</datalist>`,
    `<button type="button" data-kfp-zoom="out" title="zoom out (-)">−</button>`,
    `<button type="button" data-kfp-zoom="in" title="zoom in (+)">+</button>`,
    `<button type="button" data-kfp-zoom="fit" title="fit the whole pipeline (0)">fit</button>`,
    `<button type="button" data-kfp-zoom="one" title="actual size (1)">1:1</button>`,
    `</div></div>`
  );
  if (steps.length) root.innerHTML = parts.join("");
  const svg = root.querySelector("svg.kfp-dag-svg");
  const viewport = root.querySelector(".kfp-dag-viewport");
  const nodeEls = /* @__PURE__ */ new Map();
  const stateEls = /* @__PURE__ */ new Map();
  const titleEls = /* @__PURE__ */ new Map();
  root.querySelectorAll(".kfp-node").forEach((g) => {
    const name = g.getAttribute("data-kfp-step");
    nodeEls.set(name, g);
    stateEls.set(name, g.querySelector(".kfp-node-state"));
    titleEls.set(name, g.querySelector("title"));
  });
  const stepByName = new Map(steps.map((s) => [s.name, s]));
  let tx = 0;
  let ty = 0;
  let k = 1;
  let touched = false;
  let vw = 0;
  let vh = 0;
  vw = initialWidth;
  vh = viewHeight();
  const width = () => vw;
  const height = () => vh;
  const apply = () => {
    if (!viewport) return;
    viewport.setAttribute("transform", `translate(${tx.toFixed(1)},${ty.toFixed(1)}) scale(${k.toFixed(4)})`);
    root.classList.toggle("kfp-lod-mid", k < 0.5 && k >= 0.28);
    root.classList.toggle("kfp-lod-low", k < 0.28);
  };
  const fitScale = () => Math.min(MAX_SCALE, 1, width() / layout.width, height() / layout.height);
  const initialView = () => {
    if (options.fitWidth && !options.height) {
      k = Math.max(MIN_SCALE, Math.min(1, width() / layout.width));
      vh = Math.max(80, Math.min(options.maxHeight ?? 560, Math.ceil(layout.height * k) + 12));
      svg?.style.setProperty("height", `${vh}px`);
      tx = (width() - layout.width * k) / 2;
      ty = 4;
      apply();
      return;
    }
    k = Math.max(fitScale(), Math.min(1, READABLE_SCALE));
    tx = (width() - layout.width * k) / 2;
    if (layout.width * k > width()) {
      let sx = 0;
      let n = 0;
      for (const p of layout.nodes.values()) {
        if (p.rank === 0) {
          sx += p.x;
          n++;
        }
      }
      tx = width() / 2 - (n ? sx / n : layout.width / 2) * k;
    }
    ty = 4;
    apply();
  };
  const zoomAt = (factor, cx, cy) => {
    const nk = Math.min(MAX_SCALE, Math.max(MIN_SCALE, k * factor));
    tx = cx - (cx - tx) * nk / k;
    ty = cy - (cy - ty) * nk / k;
    k = nk;
    touched = true;
    apply();
  };
  const fit = () => {
    k = Math.max(MIN_SCALE, fitScale());
    tx = (width() - layout.width * k) / 2;
    ty = (height() - layout.height * k) / 2;
    apply();
  };
  initialView();
  const observer = typeof ResizeObserver !== "undefined" ? new ResizeObserver((entries) => {
    const box = entries[entries.length - 1]?.contentRect;
    if (box && box.width > 0) {
      vw = box.width;
      vh = box.height || vh;
    }
    if (!touched) initialView();
  }) : null;
  if (svg && observer) observer.observe(svg);
  let selected = null;
  const select = (step) => {
    if (selected) {
      nodeEls.get(selected)?.classList.remove("kfp-selected");
      root.querySelectorAll(".kfp-edge-hl").forEach((e) => e.classList.remove("kfp-edge-hl"));
    }
    selected = step && nodeEls.has(step) ? step : null;
    if (!selected) return;
    nodeEls.get(selected)?.classList.add("kfp-selected");
    const q = CSS.escape(selected);
    root.querySelectorAll(`[data-kfp-source="${q}"], [data-kfp-target="${q}"]`).forEach((e) => e.classList.add("kfp-edge-hl"));
  };
  const focus = (step) => {
    const p = layout.nodes.get(step);
    if (!p) return;
    if (k < READABLE_SCALE) k = 1;
    tx = width() / 2 - p.x * k;
    ty = height() / 2 - p.y * k;
    touched = true;
    apply();
    select(step);
  };
  let drag = null;
  const onDown = (ev) => {
    if (ev.button !== 0) return;
    const node = ev.target.closest?.(".kfp-node");
    drag = {
      x: ev.clientX,
      y: ev.clientY,
      tx,
      ty,
      moved: false,
      node: node ? node.getAttribute("data-kfp-step") : null,
      id: ev.pointerId
    };
  };
  const onMove = (ev) => {
    if (!drag || ev.pointerId !== drag.id) return;
    const dx = ev.clientX - drag.x;
    const dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    if (!drag.moved) {
      drag.moved = true;
      svg?.setPointerCapture?.(ev.pointerId);
      svg?.classList.add("kfp-panning");
    }
    tx = drag.tx + dx;
    ty = drag.ty + dy;
    touched = true;
    apply();
  };
  const onUp = (ev) => {
    if (!drag || ev.pointerId !== drag.id) return;
    const d = drag;
    drag = null;
    svg?.classList.remove("kfp-panning");
    if (d.moved) return;
    select(d.node);
    options.onSelect?.(d.node && selected ? d.node : null);
  };
  const onWheel = (ev) => {
    if (!ev.ctrlKey && !ev.metaKey) return;
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(Math.exp(-ev.deltaY * 25e-4), ev.clientX - r.left, ev.clientY - r.top);
  };
  const onKey = (ev) => {
    if (ev.target.tagName === "INPUT") return;
    const c = { x: width() / 2, y: height() / 2 };
    const pan = (x, y) => {
      tx += x;
      ty += y;
      touched = true;
      apply();
    };
    switch (ev.key) {
      case "+":
      case "=":
        zoomAt(1.25, c.x, c.y);
        break;
      case "-":
        zoomAt(0.8, c.x, c.y);
        break;
      case "0":
        fit();
        break;
      case "1":
        zoomAt(1 / k, c.x, c.y);
        break;
      case "ArrowLeft":
        pan(60, 0);
        break;
      case "ArrowRight":
        pan(-60, 0);
        break;
      case "ArrowUp":
        pan(0, 60);
        break;
      case "ArrowDown":
        pan(0, -60);
        break;
      case "Escape":
        select(null);
        options.onSelect?.(null);
        break;
      default:
        return;
    }
    ev.preventDefault();
  };
  const onTool = (ev) => {
    const b = ev.target.closest?.("[data-kfp-zoom]");
    if (!b) return;
    const c = { x: width() / 2, y: height() / 2 };
    const what = b.getAttribute("data-kfp-zoom");
    if (what === "in") zoomAt(1.25, c.x, c.y);
    else if (what === "out") zoomAt(0.8, c.x, c.y);
    else if (what === "fit") {
      touched = true;
      fit();
    } else if (what === "one") zoomAt(1 / k, c.x, c.y);
  };
  const find = root.querySelector(".kfp-dag-find");
  const onFind = () => {
    if (!find) return;
    const q = find.value.trim();
    if (!q) return;
    const name = stepByName.has(q) ? q : steps.find((s) => s.name.includes(q))?.name;
    if (name) {
      focus(name);
      options.onSelect?.(name);
    }
  };
  const onFindKey = (ev) => {
    if (ev.key === "Enter") onFind();
  };
  svg?.addEventListener("pointerdown", onDown);
  svg?.addEventListener("pointermove", onMove);
  svg?.addEventListener("pointerup", onUp);
  svg?.addEventListener("pointercancel", onUp);
  svg?.addEventListener("wheel", onWheel, { passive: false });
  root.addEventListener("keydown", onKey);
  root.querySelector(".kfp-dag-tools")?.addEventListener("click", onTool);
  find?.addEventListener("change", onFind);
  find?.addEventListener("keydown", onFindKey);
  let states = {};
  const shown = new Map([...nodeEls.keys()].map((n) => [n, "NONE||"]));
  const draw = (name) => {
    const g = nodeEls.get(name);
    if (!g) return false;
    const t = states[name];
    const state = t?.state || "NONE";
    const text = stateText(t, now());
    const key = `${state}|${text}|${t?.message ?? ""}`;
    if (shown.get(name) === key) return state === "RUNNING";
    shown.set(name, key);
    if (g.getAttribute("data-kfp-state") !== state) g.setAttribute("data-kfp-state", state);
    stateEls.get(name).textContent = text;
    const s = stepByName.get(name);
    if (s) titleEls.get(name).textContent = nodeTitle(s, t);
    return state === "RUNNING";
  };
  let timer = null;
  const tick = () => {
    let running = false;
    for (const [name, t] of Object.entries(states)) {
      if (t?.state === "RUNNING") running = draw(name) || running;
    }
    if (!running && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
  const update = (next) => {
    states = next ?? {};
    let running = false;
    for (const name of nodeEls.keys()) running = draw(name) || running;
    if (running && timer === null) timer = setInterval(tick, 1e3);
  };
  update(options.states ?? {});
  return {
    element: root,
    layout,
    update,
    select,
    focus,
    fit: () => {
      touched = true;
      fit();
    },
    zoomBy: (f) => zoomAt(f, width() / 2, height() / 2),
    scale: () => k,
    refit: () => {
      const w = svg?.clientWidth ?? 0;
      if (w > 0) vw = w;
      if (!options.fitWidth) vh = svg?.clientHeight || vh;
      if (!touched) initialView();
    },
    setProblems: (names) => {
      const bad = new Set(names);
      for (const [name, g] of nodeEls) {
        if (bad.has(name)) g.setAttribute("data-kfp-problem", "true");
        else g.removeAttribute("data-kfp-problem");
      }
    },
    destroy: () => {
      if (timer !== null) clearInterval(timer);
      observer?.disconnect();
      root.remove();
    }
  };
}

// src/widget.ts
var ACTIVE = /* @__PURE__ */ new Set(["PENDING", "RUNNING", "SUBMITTING"]);
var DONE = /* @__PURE__ */ new Set(["SUCCEEDED", "CACHED"]);
var WIDGET_CSS = `
.kfp-widget { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px;
  color: var(--jp-ui-font-color1, #1f2328); display: flex; flex-direction: column; gap: 6px; }
.kfp-widget .kfp-head { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }
.kfp-widget .kfp-title { font-weight: 600; font-size: 14px; }
.kfp-widget .kfp-sub { color: var(--jp-ui-font-color2, #59636e); }
.kfp-widget .kfp-row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.kfp-widget label { display: inline-flex; gap: 4px; align-items: center;
  color: var(--jp-ui-font-color2, #59636e); }
.kfp-widget input, .kfp-widget select, .kfp-widget button { font: inherit; font-size: 12px;
  color: var(--jp-ui-font-color1, #1f2328); background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #b8c0c8); border-radius: 3px; height: 26px;
  box-sizing: border-box; }
.kfp-widget input[type=text], .kfp-widget input[type=number] { padding: 0 6px; width: 110px; }
.kfp-widget input.kfp-wide { width: 200px; }
.kfp-widget input::placeholder { color: var(--jp-ui-font-color3, #8c959f); font-style: italic; opacity: 1; }
.kfp-widget input[type=checkbox] { height: auto; }
.kfp-widget input.kfp-invalid { border-color: #c62828; background: #ffebee; }
.kfp-widget button { padding: 0 12px; cursor: pointer; }
.kfp-widget button.kfp-primary { background: var(--jp-brand-color1, #1976d2); color: #fff;
  border-color: var(--jp-brand-color1, #1976d2); }
.kfp-widget button:disabled { opacity: 0.5; cursor: default; }
.kfp-widget .kfp-status { color: var(--jp-ui-font-color2, #59636e); }
.kfp-widget .kfp-status b { color: var(--jp-ui-font-color1, #1f2328); }
.kfp-widget .kfp-status .kfp-ok { color: #2e7d32; }
.kfp-widget .kfp-status .kfp-bad { color: #c62828; }
.kfp-widget .kfp-error { border: 1px solid #c62828; background: #ffebee; color: #7f1010;
  padding: 6px 8px; border-radius: 3px; white-space: pre-wrap; display: flex; gap: 8px; }
.kfp-widget .kfp-error > span { flex: 1; }
.kfp-widget .kfp-error button { height: 20px; padding: 0 6px; }
.kfp-widget .kfp-body { display: flex; gap: 6px; align-items: stretch; }
.kfp-widget .kfp-canvas { flex: 1; min-width: 0; }
.kfp-widget .kfp-details { width: 330px; flex: none; border: 1px solid var(--jp-border-color1, #b8c0c8);
  border-radius: 4px; padding: 6px 8px; overflow: auto; max-height: 560px; box-sizing: border-box;
  background: var(--jp-layout-color1, #fff); }
.kfp-widget .kfp-muted { color: var(--jp-ui-font-color2, #59636e); }
`;
function parseParam(type, text) {
  const t = text.trim();
  switch (type) {
    case "int": {
      if (!/^[+-]?\d+$/.test(t)) throw new Error("a whole number");
      return Number.parseInt(t, 10);
    }
    case "float": {
      const v = Number(t);
      if (t === "" || Number.isNaN(v)) throw new Error("a number");
      return v;
    }
    case "list":
    case "dict": {
      let v;
      try {
        v = JSON.parse(t);
      } catch {
        throw new Error(`JSON (${type === "list" ? "[1, 2]" : '{"a": 1}'})`);
      }
      const ok = type === "list" ? Array.isArray(v) : v !== null && typeof v === "object" && !Array.isArray(v);
      if (!ok) throw new Error(`a JSON ${type}`);
      return v;
    }
    default:
      return text;
  }
}
var kernelNow = (v) => Date.now() / 1e3 + v.offset;
function send(v, request) {
  v.model.send(request);
}
var ENGINE_LABELS = {
  local: "this machine",
  kfp: "Kubeflow Pipelines",
  argo: "Argo Workflows"
};
function build(doc, engines) {
  const title = h(doc, "span", { class: "kfp-title" });
  const sub = h(doc, "span", { class: "kfp-sub" });
  const head = h(doc, "div", { class: "kfp-head" }, title, sub);
  const paramsRow = h(doc, "div", { class: "kfp-row kfp-params" });
  const engine = h(
    doc,
    "select",
    { "data-kfp-field": "engine", "aria-label": "target" },
    ...engines.map((value) => h(doc, "option", { value }, ENGINE_LABELS[value] ?? value))
  );
  const field = (name, placeholder, wide = false) => h(doc, "input", {
    type: "text",
    "data-kfp-field": name,
    placeholder,
    class: wide ? "kfp-wide" : "",
    "aria-label": name
  });
  const host = field("host", "e.g. https://kfp.example.com", true);
  const namespace = field("namespace", "the default");
  const experiment = field("experiment", "the notebook's");
  const tokenEnv = field("token_env", "none; e.g. KFP_TOKEN", true);
  tokenEnv.title = "The NAME of the environment variable holding the token (never the token)";
  const saved = h(doc, "select", { "data-kfp-field": "target", "aria-label": "saved target" });
  const hostLabel = h(doc, "label", {}, "host", host);
  const nsLabel = h(doc, "label", {}, "namespace", namespace);
  const tokenLabel = h(doc, "label", {}, "token variable", tokenEnv);
  const savedLabel = h(doc, "label", {}, "saved", saved);
  const targetRow = h(
    doc,
    "div",
    { class: "kfp-row kfp-target" },
    savedLabel,
    h(doc, "label", {}, "target", engine),
    hostLabel,
    nsLabel,
    tokenLabel,
    h(doc, "label", {}, "experiment", experiment)
  );
  const button = (action, text, title2, primary = false) => h(doc, "button", { type: "button", "data-kfp-action": action, title: title2, class: primary ? "kfp-primary" : "" }, text);
  const buttons = {
    compile: button("compile", "Compile", "Compile the pipeline (KFP IR, or Argo YAML for Argo) next to the notebook"),
    run: button("run", "Run", "Run the pipeline on this machine (local engine)", true),
    submit: button("submit", "Submit", "Compile and send the pipeline to the chosen cluster, then follow it"),
    cancel: button("cancel", "Cancel", "Stop the run")
  };
  const status = h(doc, "span", { class: "kfp-status", "data-kfp-status": "" });
  const actions = h(doc, "div", { class: "kfp-row kfp-actions" }, ...Object.values(buttons), status);
  const errorText = h(doc, "span");
  const errorClose = h(doc, "button", { type: "button", title: "dismiss" }, "×");
  const errorBox = h(doc, "div", { class: "kfp-error", role: "alert", "data-kfp-error": "" }, errorText, errorClose);
  const canvas = h(doc, "div", { class: "kfp-canvas" });
  const details = h(doc, "div", { class: "kfp-details", "data-kfp-details": "" });
  const body = h(doc, "div", { class: "kfp-body" }, canvas, details);
  const root = h(doc, "div", { class: "kfp-widget" }, head, paramsRow, targetRow, actions, errorBox, body);
  return {
    root,
    title,
    sub,
    paramsRow,
    engine,
    host,
    namespace,
    experiment,
    tokenEnv,
    saved,
    savedLabel,
    hostLabel,
    nsLabel,
    tokenLabel,
    buttons,
    status,
    errorText,
    errorClose,
    errorBox,
    canvas,
    details
  };
}
function drawGraph(v) {
  const { model, parts } = v;
  const graph = model.get("graph") ?? {};
  const key = JSON.stringify(graph);
  if (key === v.graphKey && v.dag) return;
  v.graphKey = key;
  v.dag?.destroy();
  v.dag = null;
  parts.title.textContent = graph.name ?? "";
  const notebook = String(model.get("notebook") ?? "");
  parts.sub.textContent = [graph.description, notebook.split(/[\\/]/).pop()].filter(Boolean).join(" · ");
  parts.sub.title = notebook;
  const steps = graph.steps;
  if (!steps) {
    parts.canvas.replaceChildren();
    return;
  }
  v.dag = renderDag(parts.canvas, { ...graph, steps }, {
    states: model.get("states"),
    now: () => kernelNow(v),
    onSelect: (step) => {
      model.set("selected", step ?? "");
      model.save_changes();
    }
  });
  const sel = model.get("selected");
  if (sel) v.dag.select(sel);
  drawParams(v, graph);
}
function fieldText(type, value) {
  return type === "list" || type === "dict" ? JSON.stringify(value) : String(value ?? "");
}
function drawParams(v, graph) {
  const { doc, model, parts } = v;
  const defaults = graph.parameters ?? {};
  const types = graph.parameter_types ?? {};
  const values = { ...defaults, ...model.get("params") ?? {} };
  parts.paramsRow.replaceChildren();
  v.invalid.clear();
  const names = Object.keys(defaults);
  if (!names.length) return;
  parts.paramsRow.append(h(doc, "span", { class: "kfp-muted" }, "parameters"));
  for (const name of names) {
    const input = paramInput(v, name, types[name] ?? "str", values[name]);
    parts.paramsRow.append(h(doc, "label", {}, `${name}`, input));
  }
}
function paramInput(v, name, type, value) {
  const { doc, model } = v;
  let input;
  if (type === "bool") {
    input = h(doc, "input", { type: "checkbox", "data-kfp-param": name, "data-kfp-type": type });
    input.checked = Boolean(value);
  } else {
    input = h(doc, "input", {
      type: type === "int" || type === "float" ? "number" : "text",
      "data-kfp-param": name,
      "data-kfp-type": type,
      title: `${name} (${type})`
    });
    if (type === "int") input.step = "1";
    if (type === "float") input.step = "any";
    input.value = fieldText(type, value);
  }
  input.addEventListener("change", () => {
    let parsed;
    try {
      parsed = type === "bool" ? input.checked : parseParam(type, input.value);
      v.invalid.delete(name);
      input.classList.remove("kfp-invalid");
      input.title = `${name} (${type})`;
    } catch (e) {
      const why = `parameter ${name} must be ${e.message}`;
      v.invalid.set(name, why);
      input.classList.add("kfp-invalid");
      input.title = why;
      return;
    }
    model.set("params", { ...model.get("params") ?? {}, [name]: parsed });
    model.save_changes();
  });
  return input;
}
function syncParams(v) {
  const { doc, model, parts } = v;
  const graph = model.get("graph") ?? {};
  const values = { ...graph.parameters ?? {}, ...model.get("params") ?? {} };
  parts.paramsRow.querySelectorAll("input[data-kfp-param]").forEach((input) => {
    const name = input.getAttribute("data-kfp-param") ?? "";
    const type = input.getAttribute("data-kfp-type") ?? "str";
    if (input === doc.activeElement || v.invalid.has(name)) return;
    const value = values[name];
    if (type === "bool") input.checked = Boolean(value);
    else input.value = fieldText(type, value);
  });
}
function drawTarget(v) {
  const { doc, model, parts } = v;
  const t = model.get("target") ?? {};
  const engine = parts.engine;
  engine.value = t.engine || "local";
  parts.host.value = t.host ?? "";
  parts.namespace.value = t.namespace ?? "";
  parts.experiment.value = t.experiment ?? "";
  parts.tokenEnv.value = t.token_env ?? "";
  const names = model.get("targets") ?? [];
  parts.saved.replaceChildren(
    h(doc, "option", { value: "" }, "none"),
    ...names.map((n) => h(doc, "option", { value: n }, n))
  );
  parts.saved.value = t.target && names.includes(t.target) ? t.target : "";
  parts.savedLabel.style.display = names.length ? "" : "none";
  const cluster = engine.value !== "local";
  parts.hostLabel.style.display = engine.value === "kfp" ? "" : "none";
  parts.nsLabel.style.display = cluster ? "" : "none";
  parts.tokenLabel.style.display = cluster ? "" : "none";
  parts.buttons.submit.title = cluster ? `Compile and send the pipeline to ${ENGINE_LABELS[engine.value] ?? engine.value}, then follow it` : "Choose Kubeflow Pipelines or Argo Workflows as the target to submit";
  updateButtons(v);
}
function saveTarget(v) {
  const { model, parts } = v;
  model.set("target", {
    ...model.get("target") ?? {},
    engine: parts.engine.value,
    host: parts.host.value.trim(),
    namespace: parts.namespace.value.trim(),
    experiment: parts.experiment.value.trim(),
    token_env: parts.tokenEnv.value.trim(),
    target: parts.saved.value
  });
  model.save_changes();
}
var isActive = (run) => Boolean(run.state && ACTIVE.has(run.state));
function updateButtons(v) {
  const { model, parts } = v;
  const busy = model.get("busy");
  const active = isActive(model.get("run") ?? {});
  const hasGraph = Boolean((model.get("graph") ?? {}).steps);
  const { compile, run, submit, cancel } = parts.buttons;
  compile.disabled = Boolean(busy);
  run.disabled = Boolean(busy) || active || !hasGraph;
  submit.disabled = Boolean(busy) || active || !hasGraph || parts.engine.value === "local";
  cancel.style.display = active ? "" : "none";
  cancel.disabled = busy === "cancelling";
}
function act(v, action) {
  if (v.invalid.size && action !== "cancel" && action !== "compile") {
    showError(v, [...v.invalid.values()].join("\n"));
    return;
  }
  send(v, { action, params: v.model.get("params") ?? {}, target: v.model.get("target") ?? {} });
}
function runStatus(v, run) {
  const { doc, model } = v;
  const parts = [];
  const all = Object.values(model.get("states") ?? {});
  const done = all.filter((t) => DONE.has(t.state)).length;
  const failed = all.filter((t) => t.state === "FAILED").length;
  const cls = run.state === "SUCCEEDED" ? "kfp-ok" : run.state === "FAILED" ? "kfp-bad" : "";
  parts.push(`${run.engine && run.engine !== "local" ? `${run.engine} ` : ""}run `);
  parts.push(h(doc, "b", { "data-kfp-run": run.id ?? "" }, run.id ?? ""));
  parts.push(" · ", h(doc, "b", { class: cls, "data-kfp-run-state": run.state ?? "" }, run.state ?? ""));
  if (all.length) parts.push(` · ${done}/${all.length} done${failed ? `, ${failed} failed` : ""}`);
  const started = seconds(run.started);
  if (started !== null) {
    const end = seconds(run.finished) ?? kernelNow(v);
    parts.push(` · ${formatDuration(end - started)}`);
  }
  if (run.message) parts.push(` · ${run.message}`);
  if (run.url) {
    parts.push(" · ", h(doc, "a", { href: run.url, target: "_blank", rel: "noopener" }, "open in the cluster's UI"));
  }
  const metrics = Object.entries(run.metrics ?? {});
  if (metrics.length) parts.push(" · ", metrics.map(([k, x]) => `${k} = ${formatValue(x)}`).join(", "));
  return parts;
}
function drawStatus(v) {
  const { model } = v;
  const run = model.get("run") ?? {};
  if (typeof run.clock === "number") v.offset = run.clock - Date.now() / 1e3;
  const parts = run.id || run.state ? runStatus(v, run) : [];
  const busy = model.get("busy");
  const text = model.get("status");
  if (busy) parts.push(parts.length ? " · " : "", `${busy}…`);
  else if (text) parts.push(parts.length ? " · " : "", text);
  v.parts.status.replaceChildren(...parts);
  const active = isActive(run);
  if (active && v.statusTimer === null) v.statusTimer = setInterval(() => drawStatus(v), 1e3);
  if (!active && v.statusTimer !== null) {
    clearInterval(v.statusTimer);
    v.statusTimer = null;
  }
  updateButtons(v);
}
function showError(v, text) {
  v.parts.errorText.textContent = text;
  v.parts.errorBox.style.display = text ? "" : "none";
}
function drawDetails(v) {
  const { model } = v;
  const box = v.parts.details;
  const d = model.get("details") ?? {};
  const sel = model.get("selected");
  if (!sel || !d.step || d.step !== sel) {
    box.style.display = "none";
    box.replaceChildren();
    box.setAttribute("data-kfp-details", "");
    return;
  }
  box.style.display = "";
  box.setAttribute("data-kfp-details", d.step);
  renderDetails(
    box,
    d,
    () => {
      v.dag?.select(null);
      model.set("selected", "");
      model.save_changes();
    },
    { loadInputs: (s) => send(v, { action: "load_inputs", step: s.step, run: s.run_id }) }
  );
}
function listen(v) {
  const { model, parts } = v;
  for (const input of [parts.saved, parts.engine, parts.host, parts.namespace, parts.experiment, parts.tokenEnv]) {
    input.addEventListener("change", () => saveTarget(v));
  }
  for (const [action, b] of Object.entries(parts.buttons)) {
    b.addEventListener("click", () => act(v, action));
  }
  parts.errorClose.addEventListener("click", () => {
    showError(v, "");
    model.set("error", "");
    model.save_changes();
  });
}
function modelHandlers(v) {
  const status = () => drawStatus(v);
  const target = () => drawTarget(v);
  const details = () => drawDetails(v);
  const graph = () => {
    drawGraph(v);
    drawStatus(v);
  };
  const states = () => {
    v.dag?.update(v.model.get("states") ?? {});
    drawStatus(v);
  };
  const selected = () => {
    v.dag?.select(v.model.get("selected") || null);
    drawDetails(v);
  };
  return [
    ["change:graph", graph],
    ["change:states", states],
    ["change:run", status],
    ["change:busy", status],
    ["change:status", status],
    ["change:error", () => showError(v, v.model.get("error") ?? "")],
    ["change:target", target],
    ["change:targets", target],
    ["change:params", () => syncParams(v)],
    ["change:details", details],
    ["change:selected", selected]
  ];
}
function render({ model, el }) {
  ensureStyle(el, "kfp-widget-style", WIDGET_CSS);
  ensureStyle(el, "kfp-details-style", DETAILS_CSS);
  const doc = el.ownerDocument;
  const parts = build(doc, model.get("engines") ?? Object.keys(ENGINE_LABELS));
  el.replaceChildren(parts.root);
  const v = { model, doc, parts, offset: 0, dag: null, graphKey: "", invalid: /* @__PURE__ */ new Map(), statusTimer: null };
  listen(v);
  const handlers = modelHandlers(v);
  for (const [ev, cb] of handlers) model.on(ev, cb);
  drawGraph(v);
  drawTarget(v);
  drawStatus(v);
  showError(v, model.get("error") ?? "");
  drawDetails(v);
  parts.root.setAttribute("data-kfp-ready", "true");
  return () => {
    for (const [ev, cb] of handlers) model.off(ev, cb);
    if (v.statusTimer !== null) clearInterval(v.statusTimer);
    v.dag?.destroy();
  };
}
var widget_default = { render };
export {
  WIDGET_CSS,
  widget_default as default,
  formatSize,
  layeredLayout,
  parseParam,
  renderDag
};
