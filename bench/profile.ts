/**
 * `--profile` (or PROFILE=1) for the benches: the server-side processes a bench starts run under
 * `node --cpu-prof`, writing one `<name>.cpuprofile` per process into
 * `bench/profiles/<bench>-<timestamp>/` (git-ignored). Read them with `npx tsx bench/top-costs.ts <dir>`.
 * A process writes its profile when it exits normally (process.exit or the end of the event loop),
 * never when killed with SIGKILL: benches stop profiled children with a signal or message they handle.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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

/** Node flags that profile a child process as `<name>.cpuprofile`, or none when not profiling. */
export function profileArgs(bench: string, name: string): string[] {
  if (!profiling) return [];
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '_');
  return ['--cpu-prof', '--cpu-prof-dir', profileDir(bench), '--cpu-prof-name', `${safe}.cpuprofile`];
}

/** One line for the end of a bench's output saying where the profiles went. */
export function profileNote(bench: string): string | undefined {
  if (!profiling) return undefined;
  const d = profileDir(bench);
  return `CPU profiles: ${d}\n  read with: npx tsx bench/top-costs.ts ${d} --top 15`;
}
