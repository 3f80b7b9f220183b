// Loaded (`--import`) into every process a bench profiles. tsx compiles each .ts file to
// whitespace-minified JavaScript, so a CPU profile's positions in src/ and bench/ are columns on a
// line or two; at exit this writes the source maps tsx registered for the repo's files next to the
// profile (<cpu-prof-dir>/sourcemaps.json) so bench/top-costs.ts can print the TypeScript file:line.
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
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) tsFiles(p, out);
    else if (/\.[cm]?ts$/.test(e.name)) out.push(p);
  }
  return out;
}

if (outDir) {
  process.on('exit', () => {
    const maps = {};
    for (const file of [...tsFiles(join(root, 'src')), ...tsFiles(join(root, 'bench')), ...tsFiles(join(root, 'scripts'))]) {
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
