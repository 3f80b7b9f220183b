import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withTable } from '../../scripts/config-table.js';
import { CATALOGUE } from '../../src/api/rpc/index.js';

const readme = readFileSync('README.md', 'utf8');
/** The README and the documents under docs/ it links (the README is being split into docs/). */
const docs = [readme, ...(existsSync('docs') ? readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => readFileSync(`docs/${f}`, 'utf8')) : [])].join('\n');

describe('README stays current with the code', () => {
  it('configuration table matches src/config/schema.ts (run `npx tsx scripts/config-table.ts --write`)', () => {
    expect(readme).toBe(withTable(readme));
  });

  it('names the test command that .ci/run runs, and every RPC method (README or docs/)', () => {
    expect(readme).toContain('npm test');
    expect(readFileSync('.ci/run', 'utf8')).toContain('npm test');
    for (const m of CATALOGUE) expect(docs, m.name).toContain(m.name.split('.')[1]!);
  });
});
