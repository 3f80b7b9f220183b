import { describe, expect, it } from 'vitest';
import { cosine, embed, EMBEDDING_DIMS, fromBase64, toBase64, tokens } from '../../../src/workers/embeddings.js';
import { parseDocuments } from '../../../src/workers/tasks/vectorComputation.js';

describe('feature-hashing embeddings', () => {
  it('normalises case and accents', () => {
    expect(tokens('Échéance FACTURE, été!')).toEqual(['echeance', 'facture', 'ete']);
    expect(Array.from(embed('Facture échue'))).toEqual(Array.from(embed('facture ECHUE')));
  });
  it('is deterministic, L2-normalised and survives base64 round trips', () => {
    const v = embed('invoice total amount due');
    expect(v.length).toBe(EMBEDDING_DIMS);
    expect(Math.sqrt(v.reduce((a, x) => a + x * x, 0))).toBeCloseTo(1, 5);
    expect(Array.from(fromBase64(toBase64(v)))).toEqual(Array.from(v));
    expect(Array.from(embed('   '))).toEqual(new Array(EMBEDDING_DIMS).fill(0));
  });
  it('puts related texts closer than unrelated ones', () => {
    const q = embed('unpaid invoice payment reminder');
    const near = embed('reminder: this invoice is unpaid, payment is due');
    const far = embed('the cat sleeps on the warm windowsill');
    expect(cosine(q, near)).toBeGreaterThan(cosine(q, far));
    expect(cosine(q, q)).toBeCloseTo(1, 5);
  });
  it('parses documents in the accepted shapes and says why others are skipped', () => {
    const p = parseDocuments(['plain text', { id: 7, content: 'with id' }, { text: '' }, 42, { doc_id: 'x', page_content: 'lc style', metadata: { a: 1 } }, { id: 7, text: 'dup' }]);
    expect(p.docs.map((d) => d.id)).toEqual(['doc_0', '7', 'x']);
    expect(p.docs[2]!.metadata).toEqual({ a: 1 });
    expect(p.skipped.map((s) => s.index)).toEqual([2, 3, 5]);
  });
});
