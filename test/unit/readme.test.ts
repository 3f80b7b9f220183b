import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOC, withTable } from '../../scripts/config-table.js';
import { CATALOGUE } from '../../src/api/rpc/index.js';

const readme = readFileSync('README.md', 'utf8');
const docs = readdirSync('docs').filter((f) => f.endsWith('.md'));
/** Markdown link targets of a document. */
const links = (md: string) => [...md.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);

describe('README and docs/ stay current with the code', () => {
  it(`configuration table in ${CONFIG_DOC} matches src/config/schema.ts (run \`npx tsx scripts/config-table.ts --write\`)`, () => {
    const doc = readFileSync(CONFIG_DOC, 'utf8');
    expect(doc).toBe(withTable(doc));
  });

  it('names the test command that .ci/run runs, and every RPC method', () => {
    expect(readme).toContain('npm test');
    expect(readFileSync('.ci/run', 'utf8')).toContain('npm test');
    for (const m of CATALOGUE) expect(readme, m.name).toContain(m.name.split('.')[1]!);
  });

  it('the README is a front door (at most 250 lines) and nothing links outside the repository', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
    for (const [name, md] of [['README.md', readme], ...docs.map((f) => [`docs/${f}`, readFileSync(`docs/${f}`, 'utf8')])] as Array<[string, string]>) {
      expect(md, name).not.toContain('../shared');
      for (const target of links(md)) {
        expect(target, `${name} links to ${target}`).not.toMatch(/^[a-z]+:/i);
        // docs/ links may go up to the repository root, never above it
        expect(target, `${name} links to ${target}`).not.toMatch(name.startsWith('docs/') ? /^\.\.\/\.\./ : /^\.\.\//);
      }
    }
  });
});
