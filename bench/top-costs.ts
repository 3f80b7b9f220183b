/**
 * Top costs of a V8 CPU profile (`node --cpu-prof`, e.g. from a bench run with `--profile`):
 * the top N functions by self time and by inclusive time (each with file:line), the top inclusive
 * among this repo's own functions, and self time per package/source folder. Percentages are of the busy time (total minus `(idle)`).
 *
 *   npx tsx bench/top-costs.ts <file.cpuprofile | folder> [--top 15] [--json] [--threads] [--all] [--label L]
 *
 * A folder's `*.threadN.cpuprofile` files (worker threads, e.g. tsx's loader) are left out unless --threads.
 * When the profile's folder has a windows.json (written by the benches: the measured load windows,
 * on the monotonic clock profiles are stamped with), only samples inside those windows count;
 * --label L keeps only the windows with that label (bench:fanout labels them with the event rate);
 * --all counts the whole process (start-up included).
 * Positions in TypeScript files are mapped back through the `<name>.sourcemaps.json` the profiled
 * process wrote (tsx runs whitespace-minified JavaScript); others are as V8 saw them.
 * Inclusive time counts a function once per sample even when it recurses. Line numbers are 1-based.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join, relative } from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] }

export interface CostRow { fn: string; where: string; ms: number; pct: number }
export interface Costs { file: string; window: string; total_ms: number; idle_ms: number; busy_ms: number; samples: number; self: CostRow[]; inclusive: CostRow[]; own: CostRow[]; groups: Array<{ group: string; ms: number; pct: number }> }

const META = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);
const cwd = process.cwd();

function shortUrl(url: string): string {
  if (!url) return '';
  let p = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  if (p.startsWith('/')) p = relative(cwd, p);
  return p;
}

/** Where a frame's code lives, for grouping: an npm package, node's own code, or a source folder. */
function groupOf(url: string, fn: string): string {
  if (META.has(fn)) return fn;
  if (!url) return '(native / V8 builtins)';
  if (url.startsWith('node:')) return 'node: core';
  const p = shortUrl(url);
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = p.slice(nm + 'node_modules/'.length).split('/');
    return `npm ${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const parts = p.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : p;
}

/** The measured windows recorded for a profile file by its bench (see bench/profile.ts markWindow). */
function windowsFor(file: string, label: string | undefined): Array<[number, number, string?]> | undefined {
  const wf = join(dirname(file), 'windows.json');
  if (!existsSync(wf)) return undefined;
  const all = JSON.parse(readFileSync(wf, 'utf8')) as Record<string, Array<[number, number, string?]>>;
  const name = basename(file).replace(/\.cpuprofile$/, '').replace(/\.(thread|pid)\d+.*$/, '');
  if (!Object.hasOwn(all, name)) return undefined;
  const ws = all[name]!.filter((w) => label === undefined || w[2] === label);
  if (ws.length === 0) throw new Error(`${file}: no measured window labelled ${label} (labels: ${all[name]!.map((w) => w[2] ?? '').join(', ')})`);
  return ws;
}

/**
 * Maps compiled positions back to TypeScript lines with the source maps the profiled process wrote
 * (`<name>.sourcemaps.json`, see bench/profile-preload.mjs); positions stay as compiled without it.
 */
function sourceMapper(file: string): (f: CallFrame) => string | undefined {
  const base = basename(file).replace(/\.cpuprofile$/, '').replace(/\.thread\d+.*$/, '');
  const mf = join(dirname(file), `${base}.sourcemaps.json`);
  if (!existsSync(mf)) return () => undefined;
  const payloads = JSON.parse(readFileSync(mf, 'utf8')) as Record<string, SourceMapPayload>;
  const cache = new Map<string, SourceMap | undefined>();
  return (f) => {
    if (!Object.hasOwn(payloads, f.url)) return undefined;
    let sm = cache.get(f.url);
    if (!cache.has(f.url)) cache.set(f.url, (sm = new SourceMap(payloads[f.url]!)));
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- tsc types findEntry as `{} | SourceMapping`; the lint project sees only SourceMapping
    const e = sm?.findEntry(f.lineNumber, f.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
    if (!e?.originalSource || e.originalLine === undefined) return undefined;
    const src = e.originalSource.startsWith('file://') ? fileURLToPath(e.originalSource) : e.originalSource;
    return `${shortUrl(src)}:${e.originalLine + 1}`;
  };
}

export function analyse(file: string, top = 15, whole = false, label?: string): Costs {
  const mapped = sourceMapper(file);
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  // Only the windows this process lived through (a bench restarting a server writes several profiles under one name).
  const windows = whole ? undefined : windowsFor(file, label)?.filter(([a, b]) => b >= prof.startTime && a <= prof.endTime);
  const inWindow = (t: number) => !windows || windows.some(([a, b]) => t >= a && t <= b);
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) byId.set(n.id, n);
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const samples = prof.samples ?? [];
  const deltas = prof.timeDeltas ?? [];
  // Sample i lasts until sample i+1 (as DevTools counts it); the last one until endTime.
  const nodeSelf = new Map<number, number>();
  let t = prof.startTime;
  const stamps = samples.map((_, i) => (t += deltas[i] ?? 0));
  let counted = 0;
  for (let i = 0; i < samples.length; i++) {
    if (!inWindow(stamps[i]!)) continue;
    counted++;
    const dur = ((i + 1 < samples.length ? stamps[i + 1]! : prof.endTime) - stamps[i]!) / 1000;
    if (dur > 0) nodeSelf.set(samples[i]!, (nodeSelf.get(samples[i]!) ?? 0) + dur);
  }
  const keyOf = (n: ProfileNode) => {
    const f = n.callFrame;
    const fn = f.functionName || '(anonymous)';
    const where = f.url ? (mapped(f) ?? `${shortUrl(f.url)}:${f.lineNumber + 1}:${f.columnNumber + 1}`) : '';
    return { key: `${fn}\u0000${where}`, fn, where, group: groupOf(f.url, fn) };
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const groups = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of nodeSelf) {
    const node = byId.get(id);
    if (!node) continue;
    const k = keyOf(node);
    total += ms;
    if (k.fn === '(idle)') idle += ms;
    self.set(k.key, (self.get(k.key) ?? 0) + ms);
    groups.set(k.group, (groups.get(k.group) ?? 0) + ms);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const ck = keyOf(byId.get(cur)!);
      if (META.has(ck.fn) || seen.has(ck.key)) continue;
      seen.add(ck.key);
      incl.set(ck.key, (incl.get(ck.key) ?? 0) + ms);
    }
  }
  const busy = Math.max(1e-9, total - idle);
  // eslint-disable-next-line no-control-regex -- NUL is the separator of the profile's stack keys
  const ownCode = (k: string) => /\u0000(src|bench|scripts)\//.test(k);
  const rows = (m: Map<string, number>, skipMeta: boolean, only?: (k: string) => boolean): CostRow[] =>
    [...m]
      .filter(([k]) => !(skipMeta && k.startsWith('(idle)')) && (!only || only(k)))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, ms]) => {
        const [fn, where] = k.split('\u0000') as [string, string];
        return { fn, where, ms: Math.round(ms), pct: Math.round((ms / busy) * 1000) / 10 };
      });
  return {
    file,
    window: windows ? `measured load only: ${windows.length} window(s)${label !== undefined ? ` labelled ${label}` : ''}, ${Math.round(windows.reduce((a, [x, y]) => a + (y - x), 0) / 1000)} ms` : 'whole process',
    total_ms: Math.round(total),
    idle_ms: Math.round(idle),
    busy_ms: Math.round(busy),
    samples: counted,
    self: rows(self, true),
    inclusive: rows(incl, true),
    own: rows(incl, true, ownCode),
    groups: [...groups]
      .filter(([g]) => g !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([group, ms]) => ({ group, ms: Math.round(ms), pct: Math.round((ms / busy) * 1000) / 10 })),
  };
}

function print(c: Costs): void {
  console.log(`\n## ${basename(c.file)}  (${c.file})`);
  console.log(`${c.window}; samples ${c.samples}, total ${c.total_ms} ms, idle ${c.idle_ms} ms, busy ${c.busy_ms} ms (percentages are of busy time)\n`);
  const table = (title: string, rows: CostRow[]) => {
    console.log(`| ${title} | ms | % busy | where |`);
    console.log('|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.fn} | ${r.ms} | ${r.pct} | ${r.where || '-'} |`);
    console.log('');
  };
  table('top self', c.self);
  table('top inclusive', c.inclusive);
  table("top inclusive, this repo's code (src/, bench/, scripts/)", c.own);
  console.log('| self time by package / folder | ms | % busy |');
  console.log('|---|---|---|');
  for (const g of c.groups) console.log(`| ${g.group} | ${g.ms} | ${g.pct} |`);
}

function main(): void {
  // Piped into `head`: stop quietly when the reader goes away.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const args = process.argv.slice(2);
  const topIdx = args.indexOf('--top');
  const top = topIdx >= 0 ? Number(args[topIdx + 1]) : 15;
  if (!Number.isInteger(top) || top < 1) throw new Error('--top needs a positive integer');
  const json = args.includes('--json');
  const threads = args.includes('--threads');
  const valueOf = new Set([args.indexOf('--top'), args.indexOf('--label')].filter((i) => i >= 0).map((i) => i + 1));
  const paths = args.filter((a, i) => !a.startsWith('--') && !valueOf.has(i));
  if (paths.length === 0) {
    console.error('usage: npx tsx bench/top-costs.ts <file.cpuprofile | folder>... [--top N] [--json] [--threads] [--all] [--label L]');
    process.exit(2);
  }
  const files = paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p).filter((f) => f.endsWith('.cpuprofile') && (threads || !/\.thread\d+\./.test(f))).sort().map((f) => join(p, f))
      : [p],
  );
  if (files.length === 0) throw new Error(`no .cpuprofile in ${paths.join(', ')}`);
  const labelIdx = args.indexOf('--label');
  const label = labelIdx >= 0 ? args[labelIdx + 1] : undefined;
  if (labelIdx >= 0 && !label) throw new Error('--label needs a value');
  const out = files.map((f) => analyse(f, top, args.includes('--all'), label));
  if (json) console.log(JSON.stringify(out, null, 2));
  else out.forEach(print);
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) main();
