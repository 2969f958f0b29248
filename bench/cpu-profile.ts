// Reads a V8 .cpuprofile (node --cpu-prof) and sums it over a time window: self and total time per function,
// self time per place (a tender file, a package, a node module), for bench/profile.ts and bench/PROFILE.md.
import { relative } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The JSON node writes for --cpu-prof (the DevTools Profile type). Times are µs on the monotonic clock. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  /** "name file:line" (line 1-based), the file relative to the repository or a package / node: name. */
  key: string;
  place: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  windowMs: number;
  sampledMs: number;
  /** "(idle)": the event loop waiting for I/O; everything else is busy time. */
  idleMs: number;
  busyMs: number;
  /** Self time per place: "tender dist/http/app.js", "hono", "node:_http_outgoing", "(garbage collector)", … */
  places: Array<{ place: string; selfMs: number }>;
  functions: FunctionTime[];
  /**
   * Self time with node's built-ins and native code folded into their nearest caller from tender or a package
   * (a writev under tender's send() counts for send()): what each piece of our code and each dependency costs,
   * the work it asks of node included. Samples with no such caller are node's own (parsing, socket bookkeeping).
   */
  owners: Array<{ key: string; place: string; ms: number }>;
}

/** Code whose cost is folded into its caller's: node's built-ins, native code, V8's pseudo-frames. */
const foldable = (place: string): boolean => place.startsWith('node:') || place === '(native)' || place.startsWith('(');

/** Where a frame's code lives: tender's own file, an npm package, a node built-in, or a V8 pseudo-frame. */
export function placeOf(url: string, functionName: string, repoRoot: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
  }
  const rel = relative(repoRoot, path);
  return rel.startsWith('..') ? path : `tender ${rel}`;
}

/**
 * Sums the samples whose timestamps fall in [fromUs, toUs] (the load window, on the same monotonic clock as
 * process.hrtime). Total time counts a function once per sample however often it recurs in the stack.
 */
export function summarise(profile: CpuProfile, repoRoot: string, fromUs = -Infinity, toUs = Infinity): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  const outermost = (id: number): string => {
    let name = byId.get(id)?.callFrame.functionName || '(anonymous)';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const p = parent.get(at);
      if (p === undefined || parent.get(p) === undefined) break; // `at` is a child of the root
      name = byId.get(p)?.callFrame.functionName || '(anonymous)';
    }
    return name;
  };
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keyOf = new Map<number, { key: string; place: string }>();
  for (const node of profile.nodes) {
    const f = node.callFrame;
    const place = placeOf(f.url, f.functionName, repoRoot);
    const name = f.functionName || '(anonymous)';
    const where = f.url ? `${place.replace(/^tender /, '')}:${f.lineNumber + 1}` : '';
    keyOf.set(node.id, { key: where ? `${name} ${where}` : name, place });
  }

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const places = new Map<string, number>();
  const placeOfKey = new Map<string, string>();
  const owners = new Map<string, number>();
  let t = profile.startTime;
  let sampledUs = 0;
  let idleUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // The sample at index i was taken at t (after its delta); it stands for the time until the next one.
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    const dt = Math.max(0, profile.timeDeltas[i + 1] ?? 0);
    sampledUs += dt;
    const leaf = profile.samples[i]!;
    const leafKey = keyOf.get(leaf)!;
    if (leafKey.key === '(idle)') idleUs += dt;
    self.set(leafKey.key, (self.get(leafKey.key) ?? 0) + dt);
    places.set(leafKey.place, (places.get(leafKey.place) ?? 0) + dt);
    const seen = new Set<string>();
    let owner: string | undefined;
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const k = keyOf.get(id)!;
      placeOfKey.set(k.key, k.place);
      if (owner === undefined && !foldable(k.place)) owner = k.key;
      if (seen.has(k.key)) continue;
      seen.add(k.key);
      total.set(k.key, (total.get(k.key) ?? 0) + dt);
    }
    // No caller of ours: node's own work, named by its outermost built-in below the root (e.g. parserOnHeadersComplete).
    owner ??= leafKey.key === '(idle)' || leafKey.key === '(garbage collector)' || leafKey.key === '(program)' ? leafKey.key : `node: ${outermost(leaf)}`;
    owners.set(owner, (owners.get(owner) ?? 0) + dt);
  }
  const ms = (us: number): number => us / 1000;
  const functions = [...total.entries()]
    .filter(([key]) => key !== '(root)')
    .map(([key, totalUs]) => ({ key, place: placeOfKey.get(key) ?? '', selfMs: ms(self.get(key) ?? 0), totalMs: ms(totalUs) }));
  return {
    windowMs: ms(Math.min(toUs, profile.endTime) - Math.max(fromUs, profile.startTime)),
    sampledMs: ms(sampledUs),
    idleMs: ms(idleUs),
    busyMs: ms(sampledUs - idleUs),
    places: [...places.entries()].map(([place, us]) => ({ place, selfMs: ms(us) })).sort((a, b) => b.selfMs - a.selfMs),
    functions,
    owners: [...owners.entries()]
      .map(([key, us]) => ({ key, place: placeOfKey.get(key) ?? '', ms: ms(us) }))
      .filter((o) => o.key !== '(idle)')
      .sort((a, b) => b.ms - a.ms),
  };
}

const pct = (part: number, whole: number): string => (whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '—');

/**
 * Markdown: where the busy time went (per place, top functions by self time, top functions by total time).
 * The sampler runs on wall time, so on a shared machine "busy" includes time the process sat preempted; the
 * shares are what carries over. Given the CPU per request measured from /proc, each share is shown as CPU µs
 * per request (share × CPU per request); otherwise as busy wall time per request.
 */
export function renderSummary(s: ProfileSummary, opts: { requests?: number; cpuUsPerRequest?: number; top?: number } = {}): string {
  const top = opts.top ?? 25;
  const busy = s.busyMs;
  const perRequest = (msValue: number): string => {
    if (opts.cpuUsPerRequest !== undefined && busy > 0) return ((msValue / busy) * opts.cpuUsPerRequest).toFixed(2);
    return opts.requests ? ((1000 * msValue) / opts.requests).toFixed(2) : '—';
  };
  const unit = opts.cpuUsPerRequest !== undefined ? 'CPU µs per request' : 'busy µs per request';
  const lines: string[] = [];
  lines.push(
    `Window ${(s.windowMs / 1000).toFixed(1)} s, sampled ${(s.sampledMs / 1000).toFixed(1)} s: busy ${(busy / 1000).toFixed(2)} s ` +
      `(${pct(busy, s.sampledMs)}), idle ${(s.idleMs / 1000).toFixed(2)} s` +
      (opts.requests ? `; ${opts.requests} requests answered, ${((1000 * busy) / opts.requests).toFixed(1)} µs busy per request` : '') +
      (opts.cpuUsPerRequest !== undefined ? `; ${opts.cpuUsPerRequest.toFixed(1)} µs CPU per request (/proc, profiler on).` : '.'),
    '',
    `| self time by place | ms | % of busy | ${unit} |`,
    '| --- | ---: | ---: | ---: |',
  );
  for (const p of s.places.filter((x) => x.place !== '(idle)').slice(0, top))
    lines.push(`| ${p.place} | ${p.selfMs.toFixed(0)} | ${pct(p.selfMs, busy)} | ${perRequest(p.selfMs)} |`);
  lines.push(
    '',
    `| code of ours or a package, node's work on its behalf included (self time, built-ins folded into their caller) | ms | % of busy | ${unit} |`,
    '| --- | ---: | ---: | ---: |',
  );
  for (const o of s.owners.slice(0, top * 2)) lines.push(`| \`${o.key}\` | ${o.ms.toFixed(0)} | ${pct(o.ms, busy)} | ${perRequest(o.ms)} |`);
  lines.push('', `| function (self time) | self ms | % of busy | ${unit} |`, '| --- | ---: | ---: | ---: |');
  const bySelf = [...s.functions].filter((f) => f.key !== '(idle)').sort((a, b) => b.selfMs - a.selfMs);
  for (const f of bySelf.slice(0, top)) lines.push(`| \`${f.key}\` | ${f.selfMs.toFixed(0)} | ${pct(f.selfMs, busy)} | ${perRequest(f.selfMs)} |`);
  lines.push('', `| function (total time: itself and what it calls) | total ms | % of busy | ${unit} |`, '| --- | ---: | ---: | ---: |');
  const byTotal = [...s.functions].filter((f) => !f.key.startsWith('(')).sort((a, b) => b.totalMs - a.totalMs);
  for (const f of byTotal.slice(0, top * 2)) lines.push(`| \`${f.key}\` | ${f.totalMs.toFixed(0)} | ${pct(f.totalMs, busy)} | ${perRequest(f.totalMs)} |`);
  return lines.join('\n');
}
