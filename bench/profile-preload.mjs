// Loaded (`--import`) into every process a bench profiles. The servers run compiled JavaScript
// (.bench-build/, bench/build.ts; or the sources under tsx with BENCH_TSX=1), so a CPU profile's
// positions are in the JavaScript; at exit this writes the source maps Node registered for the repo's
// files (--enable-source-maps, or tsx's own) next to the profile (<cpu-prof-dir>/sourcemaps.json) so
// bench/top-costs.ts can print the TypeScript file:line.
import { findSourceMap } from 'node:module';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dirIdx = process.execArgv.indexOf('--cpu-prof-dir');
const outDir = dirIdx >= 0 ? process.execArgv[dirIdx + 1] : undefined;
const root = process.cwd();

function tsFiles(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || (e.name.startsWith('.') && e.name !== '.bench-build')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) tsFiles(p, out);
    else if (/\.[cm]?[tj]s$/.test(e.name)) out.push(p);
  }
  return out;
}

if (outDir) {
  process.on('exit', () => {
    const maps = {};
    const dirs = ['src', 'bench', 'scripts', '.bench-build/src', '.bench-build/bench', '.bench-build/scripts'];
    for (const file of dirs.flatMap((d) => tsFiles(join(root, d)))) {
      const url = pathToFileURL(file).href;
      const sm = findSourceMap(url) ?? findSourceMap(file);
      if (sm) maps[url] = sm.payload;
    }
    try {
      writeFileSync(join(outDir, `sourcemaps.${process.pid}.json`), JSON.stringify(maps));
    } catch {
      // best effort: the profile is still usable with the compiled positions
    }
  });
}
