import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findDates } from '../../../../src/workers/extract/dates.js';
import { frenchVatValid, luhn } from '../../../../src/workers/extract/ids.js';
import { extractInvoice } from '../../../../src/workers/extract/invoice.js';
import { findAmounts, parseNumber } from '../../../../src/workers/extract/numbers.js';

const fixture = (name: string) => readFileSync(new URL(`../../../fixtures/workers/${name}`, import.meta.url), 'utf8');

describe('numbers', () => {
  it('reads European, US, Swiss and plain formats', () => {
    expect(parseNumber('1.234,56')).toBe(1234.56);
    expect(parseNumber('1,234.56')).toBe(1234.56);
    expect(parseNumber('1 234,56')).toBe(1234.56);
    expect(parseNumber("1'234.50")).toBe(1234.5);
    expect(parseNumber('1234,5')).toBe(1234.5);
    expect(parseNumber('1.234')).toBe(1234);
    expect(parseNumber('12,34,5')).toBeNaN();
  });
  it('finds amounts with currencies and ignores dates and percentages', () => {
    const a = findAmounts('TVA 20 % le 12/03/2024 : 246,91 € soit USD 1,000.00');
    expect(a.map((x) => [x.amount, x.currency])).toEqual([
      [246.91, 'EUR'],
      [1000, 'USD'],
    ]);
    expect(findAmounts('CHF 3\'500.00')[0]).toMatchObject({ amount: 3500, currency: 'CHF' });
    expect(findAmounts('£99.99')[0]).toMatchObject({ amount: 99.99, currency: 'GBP' });
  });
});

describe('dates', () => {
  it('reads ISO, numeric day-first, English and French month names', () => {
    expect(findDates('2024-03-15').map((d) => d.iso)).toEqual(['2024-03-15']);
    expect(findDates('le 05/04/2024').map((d) => d.iso)).toEqual(['2024-04-05']);
    expect(findDates('04/25/2024').map((d) => d.iso)).toEqual(['2024-04-25']);
    expect(findDates('March 5, 2024').map((d) => d.iso)).toEqual(['2024-03-05']);
    expect(findDates('1er février 2024').map((d) => d.iso)).toEqual(['2024-02-01']);
    expect(findDates('15 décembre 2023').map((d) => d.iso)).toEqual(['2023-12-15']);
    expect(findDates('31/02/2024')).toEqual([]);
  });
});

describe('ids', () => {
  it('checks SIRET by Luhn and French VAT by key', () => {
    expect(luhn('73282932000074')).toBe(true);
    expect(luhn('73282932000075')).toBe(false);
    expect(frenchVatValid('FR44732829320')).toBe(true);
    expect(frenchVatValid('FR45732829320')).toBe(false);
  });
});

describe('extractInvoice', () => {
  it('extracts a French invoice', () => {
    const x = extractInvoice(fixture('invoice-fr.txt'));
    expect(x.language).toBe('fr');
    expect(x.invoice_number?.value).toBe('FA-2024-0042');
    expect(x.invoice_date?.value).toBe('2024-03-15');
    expect(x.due_date?.value).toBe('2024-04-14');
    expect(x.subtotal).toMatchObject({ amount: 1234.56, currency: 'EUR' });
    expect(x.vat).toMatchObject({ rate: 20, amount: 246.91, currency: 'EUR' });
    expect(x.total).toMatchObject({ amount: 1481.47, currency: 'EUR' });
    expect(x.totals_consistent).toBe(true);
    expect(x.currency?.value).toBe('EUR');
    expect(x.tax_ids).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'siret', value: '73282932000074' }), expect.objectContaining({ type: 'vat', value: 'FR44732829320' })]));
    expect(x.buyer?.value).toBe('Boulangerie Martin');
    expect(x.seller?.value).toBe('ATELIER DUPONT SARL');
    expect(x.seller!.confidence).toBeLessThan(x.buyer!.confidence); // letterhead guess vs labelled line
    for (const f of [x.invoice_number, x.invoice_date, x.total, x.subtotal, x.vat, x.buyer]) {
      expect(f!.confidence).toBeGreaterThan(0.7);
      expect(f!.confidence).toBeLessThanOrEqual(1);
    }
  });

  it('extracts an English invoice', () => {
    const x = extractInvoice(fixture('invoice-en.txt'));
    expect(x.language).toBe('en');
    expect(x.invoice_number?.value).toBe('INV-1001');
    expect(x.invoice_date?.value).toBe('2024-03-05');
    expect(x.due_date?.value).toBe('2024-04-04');
    expect(x.subtotal?.amount).toBe(1250);
    expect(x.vat).toMatchObject({ rate: 8.5, amount: 106.25 });
    expect(x.total).toMatchObject({ amount: 1356.25, currency: 'USD' });
    expect(x.seller?.value).toBe('Acme Widgets Inc.');
    expect(x.buyer?.value).toBe('Globex Corporation');
    expect(x.tax_ids).toEqual([expect.objectContaining({ type: 'ein', value: '12-3456789' })]);
  });

  it('extracts European number formats with ISO currency codes', () => {
    const x = extractInvoice(fixture('invoice-de-eur.txt'));
    expect(x.total).toMatchObject({ amount: 2380, currency: 'EUR' });
    expect(x.subtotal?.amount).toBe(2000);
    expect(x.vat).toMatchObject({ rate: 19, amount: 380 });
    expect(x.invoice_number?.value).toBe('2024/117');
    expect(x.tax_ids[0]).toMatchObject({ type: 'vat', value: 'DE123456789' });
  });

  it('lowers confidence when totals do not add up, and infers nothing from plain prose', () => {
    const bad = extractInvoice('Invoice #A-77\nSubtotal: $100.00\nVAT 20%: $20.00\nTotal due: $150.00');
    expect(bad.totals_consistent).toBe(false);
    expect(bad.warnings[0]).toMatch(/does not equal/);
    expect(bad.total!.confidence).toBeLessThan(0.9);
    const none = extractInvoice('Dear team, the meeting moved to the afternoon.');
    expect(none.fields_found).toBe(0);
    expect(none.total).toBeNull();
    expect(none.warnings).toContain('no invoice field was recognised in this text');
  });
});
