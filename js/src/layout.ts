/**
 * A layered (Sugiyama-style) layout for directed acyclic graphs, small enough to read in one go.
 *
 * Why our own and not dagre or ELK: dagre took 1-2 s for 300 steps here (network-simplex ranking
 * and its ordering phase), ELK is a 1.5 MB GWT bundle; pipelines are DAGs already, so the simple
 * classic steps do well and stay fast (tens of ms at 300 steps):
 *
 * 1. ranks: longest path from the sources, then sources (and nodes with more outputs than inputs)
 *    are pulled down next to their consumers, so edges stay short;
 * 2. long edges get one dummy vertex per rank they cross, shared by the edges leaving one node
 *    (a bus that branches off to each target); an edge label is a dummy vertex as wide as the
 *    label (on its own rank just above the target), so labels take space and never overlap;
 * 3. order within ranks: barycenter sweeps, keeping the order with the fewest crossings;
 * 4. x: alternating sweeps that pull each vertex towards its neighbours, solved exactly per rank
 *    (weighted isotonic regression with minimum separations, "pool adjacent violators"), with long
 *    edges weighted so that they come out straight.
 *
 * Long edges are what costs: an edge across k ranks is k vertices in every phase.
 */

export interface LayoutNode {
  id: string;
  width: number;
  height: number;
}

export interface LayoutEdge {
  source: string;
  target: string;
  /** Space to reserve for the edge's label, if it has one. */
  label?: { width: number; height: number };
}

export interface LayoutOptions {
  /** Horizontal gap between two nodes of one rank. */
  nodeSep?: number;
  /** Horizontal gap next to an edge passing through a rank. */
  edgeSep?: number;
  /** Vertical gap between ranks. */
  rankSep?: number;
  margin?: number;
  /** Ordering sweeps at most (stops earlier when crossings stop improving); default: 24, fewer
   * for graphs of many thousand vertices (long edges), so big pipelines still draw at once. */
  orderIterations?: number;
  /** Coordinate sweeps; default 8, fewer for very big graphs. */
  positionIterations?: number;
}

export interface Point {
  x: number;
  y: number;
}

/** A placed node; x and y are its centre. */
export interface PlacedNode {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
  rank: number;
}

export interface PlacedEdge {
  source: string;
  target: string;
  /** From the source's bottom to the target's top, through the points where it bends. */
  points: Point[];
  /** The centre of the label's space, if the edge has a label. */
  label?: Point;
}

export interface Layout {
  width: number;
  height: number;
  nodes: Map<string, PlacedNode>;
  edges: PlacedEdge[];
  /** How many edge crossings the chosen order has (for tests and the benchmark). */
  crossings: number;
}

interface Vertex {
  /** index into the input nodes, or -1 for a dummy */
  node: number;
  width: number;
  height: number;
  rank: number;
  up: number[];
  down: number[];
  x: number;
  order: number;
}

const DEFAULTS: Required<LayoutOptions> = {
  nodeSep: 28,
  edgeSep: 10,
  rankSep: 36,
  margin: 16,
  orderIterations: 0,
  positionIterations: 0,
};

export function layeredLayout(
  nodes: LayoutNode[],
  edges: LayoutEdge[],
  options: LayoutOptions = {},
): Layout {
  const opt = { ...DEFAULTS, ...options };
  const index = new Map<string, number>();
  nodes.forEach((n, i) => index.set(n.id, i));
  const n = nodes.length;

  // --- edges: known ends, no self loops, no duplicates; reverse the few that close a cycle ----
  type E = { s: number; t: number; edge: LayoutEdge; reversed: boolean };
  const seen = new Set<string>();
  const es: E[] = [];
  for (const edge of edges) {
    const s = index.get(edge.source);
    const t = index.get(edge.target);
    if (s === undefined || t === undefined || s === t) continue;
    const key = `${s}>${t}`;
    if (seen.has(key)) continue;
    seen.add(key);
    es.push({ s, t, edge, reversed: false });
  }
  breakCycles(n, es);

  // --- 1. ranks ------------------------------------------------------------------------------
  const preds: number[][] = Array.from({ length: n }, () => []);
  const succs: number[][] = Array.from({ length: n }, () => []);
  for (const e of es) {
    succs[e.s].push(e.t);
    preds[e.t].push(e.s);
  }
  const topo = topoOrder(n, preds, succs);
  const layer = new Array<number>(n).fill(0);
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

  // --- 2. vertices: real nodes, then dummies along long edges ---------------------------------
  const vs: Vertex[] = nodes.map((nd, i) => ({
    node: i,
    width: nd.width,
    height: nd.height,
    rank: layer[i] * step,
    up: [],
    down: [],
    x: 0,
    order: 0,
  }));
  const chains: number[][] = [];
  const labelVertex: number[] = [];
  const dummyAt = (rank: number, width = 0, height = 0): number => {
    vs.push({ node: -1, width, height, rank, up: [], down: [], x: 0, order: 0 });
    return vs.length - 1;
  };
  // The edges leaving one node share one line of dummies (a "bus") down to where each branches
  // off: a variable read by 30 later steps is one line with 30 branches, not 30 parallel lines,
  // and the layout has far fewer vertices to place.
  const trunks = new Map<number, number[]>();
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
      if (trunk[k] === undefined) trunk[k] = dummyAt(r);
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
  const ranks: number[][] = Array.from({ length: maxRank + 1 }, () => []);

  // --- 3. order: a DFS order to start, then barycenter sweeps -----------------------------------
  const visited = new Uint8Array(vs.length);
  const visit = (start: number): void => {
    const stack = [start];
    while (stack.length) {
      const v = stack.pop() as number;
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
  // work in proportion to the graph: each sweep visits every vertex
  const budget = (most: number, least: number): number =>
    Math.max(least, Math.min(most, Math.floor(60000 / Math.max(1, vs.length))));
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

  // --- 4. x coordinates -------------------------------------------------------------------------
  // Typed arrays and scratch buffers: this phase visits every vertex ~20 times.
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
  // pulling along a long edge (dummy to dummy) weighs most: long edges come out straight
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
  const place = (r: number, up: boolean, down: boolean): void => {
    const rank = ranks[r];
    const seps = rankSeps[r];
    for (let i = 0; i < rank.length; i++) {
      const v = rank[i];
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
      target[i] = sw === 0 ? X[v] : sx / sw;
      wt[i] = sw === 0 ? 0.05 : sw;
    }
    // the closest positions (weighted least squares) keeping the order and the separations:
    // pool adjacent violators on y_i = x_i - (sum of separations before i)
    let c = 0;
    let blocks = 0;
    for (let i = 0; i < rank.length; i++) {
      c += seps[i];
      off[i] = c;
      let m = target[i] - c;
      let w = wt[i];
      let n = 1;
      while (blocks > 0 && blockMean[blocks - 1] > m) {
        blocks--;
        m = (blockMean[blocks] * blockW[blocks] + m * w) / (blockW[blocks] + w);
        w += blockW[blocks];
        n += blockN[blocks];
      }
      blockMean[blocks] = m;
      blockW[blocks] = w;
      blockN[blocks] = n;
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

  // --- y coordinates, and normalise -------------------------------------------------------------
  let minX = Infinity;
  let maxX = -Infinity;
  for (const v of vs) {
    minX = Math.min(minX, v.x - v.width / 2);
    maxX = Math.max(maxX, v.x + v.width / 2);
  }
  if (!Number.isFinite(minX)) minX = maxX = 0;
  const rankY: number[] = [];
  let y = opt.margin;
  for (let r = 0; r < ranks.length; r++) {
    let h = 0;
    for (const v of ranks[r]) h = Math.max(h, vs[v].height);
    const sep = labelled ? opt.rankSep / 2 : opt.rankSep;
    if (r > 0) y += sep;
    rankY.push(y + h / 2);
    y += h;
  }
  const dx = opt.margin - minX;
  const placed = new Map<string, PlacedNode>();
  nodes.forEach((nd, i) => {
    const v = vs[i];
    placed.set(nd.id, {
      id: nd.id,
      x: v.x + dx,
      y: rankY[v.rank],
      width: nd.width,
      height: nd.height,
      rank: layer[i],
    });
  });

  // --- edges: ports spread along the node's side, then the dummies' points ----------------------
  const outPorts = portOffsets(n, es, chains, vs, "out");
  const inPorts = portOffsets(n, es, chains, vs, "in");
  const placedEdges: PlacedEdge[] = es.map((e, k) => {
    const chain = chains[k];
    const a = vs[e.s];
    const b = vs[e.t];
    const pts: Point[] = [{ x: a.x + dx + outPorts[k], y: rankY[a.rank] + a.height / 2 }];
    for (let i = 1; i + 1 < chain.length; i++) {
      const x = vs[chain[i]].x;
      // a point in the middle of a straight vertical run adds nothing but drawing work
      const straight =
        i > 1 &&
        chain[i] !== labelVertex[k] &&
        Math.abs(vs[chain[i - 1]].x - x) < 0.5 &&
        Math.abs(vs[chain[i + 1]].x - x) < 0.5 &&
        chain[i + 1] !== e.t;
      if (!straight) pts.push({ x: x + dx, y: rankY[vs[chain[i]].rank] });
    }
    pts.push({ x: b.x + dx + inPorts[k], y: rankY[b.rank] - b.height / 2 });
    const lv = labelVertex[k];
    const label = lv >= 0 ? { x: vs[lv].x + dx, y: rankY[vs[lv].rank] } : undefined;
    if (e.reversed) pts.reverse();
    return {
      source: e.reversed ? nodes[e.t].id : nodes[e.s].id,
      target: e.reversed ? nodes[e.s].id : nodes[e.t].id,
      points: pts,
      label,
    };
  });
  return {
    width: maxX - minX + 2 * opt.margin,
    height: y + opt.margin,
    nodes: placed,
    edges: placedEdges,
    crossings: bestCrossings,
  };
}

/**
 * The label's rank on an edge between the even ranks r0 < r1: the odd rank just above the target,
 * so the variables a step reads sit together above it (a long edge's middle is far from both).
 */
function labelRank(_r0: number, r1: number): number {
  return r1 - 1;
}

/** Reverse the edges that close a cycle (a DFS in input order), so the rest can rank the graph. */
function breakCycles(n: number, es: { s: number; t: number; reversed: boolean }[]): void {
  const out: number[][] = Array.from({ length: n }, () => []);
  es.forEach((e, i) => out[e.s].push(i));
  const state = new Uint8Array(n); // 0 new, 1 on the stack, 2 done
  for (let root = 0; root < n; root++) {
    if (state[root]) continue;
    const stack: [number, number][] = [[root, 0]];
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

/** Kahn's algorithm, taking ready nodes in input order (stable layouts for stable input). */
function topoOrder(n: number, preds: number[][], succs: number[][]): number[] {
  const indeg = preds.map((p) => p.length);
  const ready: number[] = [];
  for (let v = n - 1; v >= 0; v--) if (indeg[v] === 0) ready.push(v);
  const order: number[] = [];
  while (ready.length) {
    const v = ready.pop() as number;
    order.push(v);
    const next: number[] = [];
    for (const s of succs[v]) if (--indeg[s] === 0) next.push(s);
    next.sort((a, b) => b - a);
    // keep input order among everything ready: merge, highest index first (popped last)
    for (const s of next) ready.push(s);
    ready.sort((a, b) => b - a);
  }
  return order;
}

function setOrder(vs: Vertex[], ranks: number[][]): void {
  for (const rank of ranks) rank.forEach((v, i) => (vs[v].order = i));
}

function sortByBarycenter(vs: Vertex[], rank: number[], side: "up" | "down", key: Float64Array): void {
  for (let i = 0; i < rank.length; i++) {
    const v = rank[i];
    const nbs = side === "up" ? vs[v].up : vs[v].down;
    if (nbs.length === 0) {
      key[v] = i; // no neighbours on that side: stay where it is
      continue;
    }
    let sum = 0;
    for (const u of nbs) sum += vs[u].order;
    key[v] = sum / nbs.length;
  }
  rank.sort((a, b) => key[a] - key[b] || vs[a].order - vs[b].order);
  for (let i = 0; i < rank.length; i++) vs[rank[i]].order = i;
}

/**
 * Edge crossings between consecutive ranks (Barth, Jünger and Mutzel's accumulator tree).
 * Reads positions from `order`, which must be current.
 */
function countCrossings(vs: Vertex[], ranks: number[][]): number {
  let total = 0;
  for (let r = 0; r + 1 < ranks.length; r++) {
    const south = ranks[r + 1].length;
    if (south < 2) continue;
    const ends: number[] = [];
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
    const tree = new Array<number>(2 * first - 1).fill(0);
    first -= 1;
    for (const p of ends) {
      let i = p + first;
      tree[i]++;
      while (i > 0) {
        if (i % 2) total += tree[i + 1];
        i = (i - 1) >> 1;
        tree[i]++;
      }
    }
  }
  return total;
}

/** Horizontal offsets of each edge's end on its node, so edges meet a node side by side (edges
 * that leave along one bus leave from one point). */
function portOffsets(
  n: number,
  es: { s: number; t: number }[],
  chains: number[][],
  vs: Vertex[],
  side: "in" | "out",
): number[] {
  const out = new Array<number>(es.length).fill(0);
  const byNode: number[][] = Array.from({ length: n }, () => []);
  es.forEach((e, k) => byNode[side === "out" ? e.s : e.t].push(k));
  const hop = (k: number): number => {
    const chain = chains[k];
    return side === "out" ? chain[1] : chain[chain.length - 2];
  };
  byNode.forEach((ks, v) => {
    // one port per distinct next vertex, ordered by where it goes, so they do not cross
    const hops = [...new Set(ks.map(hop))].sort((a, b) => vs[a].x - vs[b].x);
    if (hops.length < 2) return;
    const spread = Math.min(14, (vs[v].width * 0.7) / hops.length);
    const offset = new Map(hops.map((h, i) => [h, (i - (hops.length - 1) / 2) * spread]));
    for (const k of ks) out[k] = offset.get(hop(k)) as number;
  });
  return out;
}
