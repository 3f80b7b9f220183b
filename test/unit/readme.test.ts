import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withTable } from '../../scripts/config-table.js';
import { CATALOGUE } from '../../src/api/rpc/index.js';

const readme = readFileSync('README.md', 'utf8');

describe('README stays current with the code', () => {
  it('configuration table matches src/config/schema.ts (run `npx tsx scripts/config-table.ts --write`)', () => {
    expect(readme).toBe(withTable(readme));
  });

  it('names the test command that .ci/run runs, and every RPC method', () => {
    expect(readme).toContain('npm test');
    expect(readFileSync('.ci/run', 'utf8')).toContain('npm test');
    for (const m of CATALOGUE) expect(readme, m.name).toContain(m.name.split('.')[1]!);
  });
});
