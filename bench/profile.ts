/**
 * `--profile` (or PROFILE=1) for the benches: the server-side processes a bench starts run under
 * `node --cpu-prof`, writing one `<name>.cpuprofile` per process (main thread) into
 * `bench/profiles/<bench>-<timestamp>/` (git-ignored). Read them with `npx tsx bench/top-costs.ts <dir>`.
 * A process writes its profile when it exits normally (process.exit or the end of the event loop),
 * never when killed with SIGKILL: benches stop profiled children with a signal or message they handle.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { underTsx } from './build.js';

export const profiling = process.argv.includes('--profile') || process.env.PROFILE === '1';

const dirs = new Map<string, string>();

/** The run's profile folder for `bench` (created on first use; one per bench run). */
export function profileDir(bench: string): string {
  let d = dirs.get(bench);
  if (!d) {
    // Inherited by re-executed/child bench processes so one run writes into one folder.
    const stamp = process.env.BENCH_PROFILE_STAMP ?? new Date().toISOString().replace(/[:.]/g, '-');
    process.env.BENCH_PROFILE_STAMP = stamp;
    d = fileURLToPath(new URL(`./profiles/${bench}-${stamp}`, import.meta.url));
    mkdirSync(d, { recursive: true });
    dirs.set(bench, d);
  }
  return d;
}

/**
 * Node flags that profile a child process into `<run folder>/<name>/` (one file per thread: tsx's
 * module loader runs on a worker thread of its own); `collectProfiles` renames them afterwards to
 * `<name>.cpuprofile` (main thread) and `<name>.thread<N>.cpuprofile`. Empty when not profiling.
 */
export function profileArgs(bench: string, name: string): string[] {
  if (!profiling) return [];
  const d = join(profileDir(bench), safeName(name));
  mkdirSync(d, { recursive: true });
  // --enable-source-maps: compiled servers (bench/build.ts) register their .js.map files, which the
  // preload writes next to the profile so top-costs prints TypeScript lines.
  return ['--cpu-prof', '--cpu-prof-dir', d, ...(underTsx ? [] : ['--enable-source-maps']), '--import', fileURLToPath(new URL('./profile-preload.mjs', import.meta.url))];
}

const safeName = (name: string) => name.replace(/[^A-Za-z0-9._-]+/g, '_');

/** Flattens the per-process folders into named files; returns the run folder's profile files. */
export function collectProfiles(bench: string): string[] {
  if (!profiling) return [];
  const root = profileDir(bench);
  for (const name of readdirSync(root)) {
    const sub = join(root, name);
    if (!statSync(sub).isDirectory()) continue;
    // Node's default name: CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile (tid 0 = main thread).
    // profile-preload.mjs's source maps: sourcemaps.<pid>.json → <name>[.pid<pid>].sourcemaps.json.
    const maps = readdirSync(sub).filter((f) => /^sourcemaps\.\d+\.json$/.test(f));
    for (const m of maps) renameSync(join(sub, m), join(root, maps.length > 1 ? `${name}.pid${m.split('.')[1]}.sourcemaps.json` : `${name}.sourcemaps.json`));
    const files = readdirSync(sub).filter((f) => f.endsWith('.cpuprofile'));
    const pids = new Set(files.map((f) => f.split('.')[3]));
    for (const f of files) {
      const [, , , pid, tid] = f.split('.');
      const base = pids.size > 1 ? `${name}.pid${pid}` : name;
      let target = join(root, tid === '0' ? `${base}.cpuprofile` : `${base}.thread${tid}.cpuprofile`);
      for (let i = 2; existsSync(target); i++) target = target.replace(/(\.\d+)?\.cpuprofile$/, `.${i}.cpuprofile`);
      renameSync(join(sub, f), target);
    }
    if (readdirSync(sub).length === 0) rmdirSync(sub);
  }
  return readdirSync(root).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => join(root, f));
}

/** Now on the clock V8 stamps profiles with (CLOCK_MONOTONIC, shared by every process), in µs. */
export const monoUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Records that `name`'s profile was under measured load from `fromUs` to `toUs` (monoUs): top-costs
 * then counts only those samples, leaving out start-up (module loading through tsx) and idle waits.
 * A name may get several windows, each with a label (e.g. the event rate; top-costs --label picks one).
 */
export function markWindow(bench: string, name: string, fromUs: number, toUs: number, label = ''): void {
  if (!profiling) return;
  const file = join(profileDir(bench), 'windows.json');
  const all = (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}) as Record<string, Array<[number, number, string]>>;
  (all[safeName(name)] ??= []).push([fromUs, toUs, label]);
  writeFileSync(file, JSON.stringify(all, null, 1));
}

/** Lines for the end of a bench's output saying where the profiles went (after collecting them). */
export function profileNote(bench: string): string | undefined {
  if (!profiling) return undefined;
  const files = collectProfiles(bench);
  const d = profileDir(bench);
  return `CPU profiles (${files.length} files): ${d}\n  read with: npx tsx bench/top-costs.ts ${d} --top 15   (main threads; add --threads for the loader threads)`;
}
