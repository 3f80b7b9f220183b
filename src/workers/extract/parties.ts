/**
 * Seller and buyer from labelled lines (pure): `From:`, `Bill to:`, `Fournisseur :`, `Client :`…,
 * with the value on the same line or on the next non-empty line.
 */
import { fold } from './dates.js';

export interface PartyField {
  value: string;
  confidence: number;
  source: string;
}

const SELLER = /^\s*(from|seller|vendor|supplier|bill(?:ed)?\s+from|issued\s+by|payee|fournisseur|vendeur|emetteur|prestataire|emis\s+par)\s*(?::|$)/;
const BUYER = /^\s*(bill(?:ed)?\s+to|invoice\s+to|sold\s+to|customer|client|buyer|to|acheteur|destinataire|factur(?:e|er)\s+a|adresse\s+de\s+facturation)\s*(?::|$)/;

function clean(v: string): string | null {
  const s = v.replace(/\s+/g, ' ').replace(/^[\s:;,-]+|[\s:;,]+$/g, '').trim();
  if (s.length < 2 || s.length > 160 || !/\p{L}/u.test(s)) return null;
  return s;
}

function nextValue(lines: readonly string[], i: number): string | null {
  for (let j = i + 1; j < Math.min(lines.length, i + 3); j++) {
    const v = clean(lines[j] ?? '');
    if (v) return v;
  }
  return null;
}

function labelled(lines: readonly string[], re: RegExp): PartyField | null {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = re.exec(fold(line));
    if (!m) continue;
    const rest = clean(line.slice(m[0].length));
    if (rest) return { value: rest, confidence: 0.85, source: line.trim().slice(0, 160) };
    const next = nextValue(lines, i);
    if (next) return { value: next, confidence: 0.75, source: line.trim().slice(0, 160) };
  }
  return null;
}

export function findParties(lines: readonly string[]): { seller: PartyField | null; buyer: PartyField | null } {
  const buyer = labelled(lines, BUYER);
  let seller = labelled(lines, SELLER);
  if (!seller) {
    // Letterhead: the first line with words that is not the document title, a label or a figure.
    for (const line of lines.slice(0, 5)) {
      const f = fold(line).trim();
      if (!f || /^(invoice|facture|tax invoice|bill)\b/.test(f) || /\d{3,}|:/.test(f) || BUYER.test(f)) continue;
      const v = clean(line);
      if (v && v !== buyer?.value) {
        seller = { value: v, confidence: 0.35, source: line.trim().slice(0, 160) };
        break;
      }
    }
  }
  return { seller, buyer };
}
