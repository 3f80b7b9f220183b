/**
 * Company identifiers on invoices (pure): EU VAT numbers (French key checked), SIRET / SIREN
 * (Luhn checked), US EIN. Confidence is higher when a checksum holds and when the line is labelled.
 */
import { fold } from './dates.js';

export interface TaxId {
  type: 'vat' | 'siret' | 'siren' | 'ein';
  value: string;
  confidence: number;
}

export function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** French VAT: FR + 2-digit key + SIREN, key = (12 + 3 × (SIREN mod 97)) mod 97. */
export function frenchVatValid(v: string): boolean {
  const m = /^FR(\d{2})(\d{9})$/.exec(v);
  if (!m) return false;
  return Number(m[1]) === (12 + 3 * (Number(m[2]) % 97)) % 97;
}

const EU = 'AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|GB|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|CHE';
const VAT_RE = new RegExp(String.raw`\b(${EU})[\s-]?([0-9A-Z]{2}[\s.]?\d{3}[\s.]?\d{3}[\s.]?\d{1,5}|\d{8,12}(?:\s?(?:MWST|TVA|IVA))?)\b`, 'g');

export function findTaxIds(lines: readonly string[]): TaxId[] {
  const out = new Map<string, TaxId>();
  const add = (t: TaxId) => {
    const prev = out.get(`${t.type}:${t.value}`);
    if (!prev || prev.confidence < t.confidence) out.set(`${t.type}:${t.value}`, t);
  };
  for (const line of lines) {
    const f = fold(line);
    const vatLabel = /\b(vat|tva|ust|mwst|iva|btw)\b/.test(f);
    for (const m of line.toUpperCase().matchAll(VAT_RE)) {
      const value = `${m[1]}${m[2]!.replace(/[\s.]|MWST|TVA|IVA/g, '')}`;
      if ((value.match(/\d/g) ?? []).length < 8) continue;
      const checked = frenchVatValid(value);
      if (!checked && !vatLabel && m[1] === 'FR') continue;
      add({ type: 'vat', value, confidence: checked ? 0.97 : vatLabel ? 0.85 : 0.6 });
    }
    const siretLabel = /\bsiret\b/.test(f);
    for (const m of line.matchAll(/\b(\d{3})\s?(\d{3})\s?(\d{3})\s?(\d{5})\b/g)) {
      const digits = m.slice(1, 5).join('');
      const ok = luhn(digits);
      if (!ok && !siretLabel) continue;
      add({ type: 'siret', value: digits, confidence: ok ? (siretLabel ? 0.97 : 0.8) : 0.5 });
    }
    if (/\b(siren|rcs)\b/.test(f)) {
      for (const m of line.matchAll(/\b(\d{3})\s?(\d{3})\s?(\d{3})\b(?!\s?\d)/g)) {
        const digits = m.slice(1, 4).join('');
        add({ type: 'siren', value: digits, confidence: luhn(digits) ? 0.95 : 0.5 });
      }
    }
    if (/\b(ein|tax\s+id|federal\s+tax)\b/.test(f)) {
      for (const m of line.matchAll(/\b(\d{2}-\d{7})\b/g)) add({ type: 'ein', value: m[1]!, confidence: 0.85 });
    }
  }
  return [...out.values()];
}
