/**
 * The benches measure the code as production runs it: compiled JavaScript (`tsc`), not TypeScript
 * transformed on load by tsx. tsx's esbuild transform keeps function names by wrapping closures in
 * `__name(fn, "…")` (a defineProperty per closure created), which costs CPU on hot paths and memory
 * per connection, so a server under tsx is not the server we ship.
 *
 * `benchEntry('bench/rpc-server.ts')` compiles `src/` and `bench/` once per bench run into
 * `.bench-build/` (git-ignored, incremental; tsconfig.bench.json), copies the console's static
 * files, and returns the compiled file's path. BENCH_TSX=1 runs the TypeScript sources under tsx
 * instead (the old way, for comparison).
 */
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const underTsx = process.env.BENCH_TSX === '1';
let built = false;

function build(): void {
  if (built || underTsx) return;
  const t0 = Date.now();
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.bench.json'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('bench build failed (tsc -p tsconfig.bench.json)');
  cpSync(`${root}src/console/public`, `${root}.bench-build/src/console/public`, { recursive: true });
  process.stderr.write(`bench: compiled src/ and bench/ into .bench-build/ (${Date.now() - t0} ms); servers run as node .bench-build/…/*.js\n`);
  built = true;
}

/** Node arguments that run `tsFile` (a path from the repo root): its compiled .js, or under tsx with BENCH_TSX=1. */
export function benchEntry(tsFile: string): string[] {
  if (underTsx) return ['--import', 'tsx', `${root}${tsFile}`];
  build();
  return [`${root}.bench-build/${tsFile.replace(/\.ts$/, '.js')}`];
}

/** process.execArgv without tsx's loader flags (a forked compiled child must not load tsx). */
export function execArgvWithoutTsx(): string[] {
  if (underTsx) return [...process.execArgv];
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1] ?? '';
    if ((a === '--import' || a === '--require' || a === '--loader' || a === '-r') && next.includes('tsx')) {
      i++;
      continue;
    }
    if (/^--(import|require|loader)=.*tsx/.test(a)) continue;
    out.push(a);
  }
  return out;
}
