/**
 * Dates in free text (pure): ISO `2024-03-15`, `15/03/2024`, `15.03.2024`, `15-03-24`,
 * `15 March 2024`, `March 15, 2024`, `15 mars 2024`, `1er janvier 2024`. Numeric dates are read
 * day-first (European invoices) unless the second number cannot be a month, in which case they are
 * read month-first (US); ambiguous ones get a lower certainty.
 */

const MONTHS: Record<string, number> = {
  january: 1, jan: 1, janvier: 1, janv: 1,
  february: 2, feb: 2, fevrier: 2, fevr: 2, fev: 2,
  march: 3, mar: 3, mars: 3,
  april: 4, apr: 4, avril: 4, avr: 4,
  may: 5, mai: 5,
  june: 6, jun: 6, juin: 6,
  july: 7, jul: 7, juillet: 7, juil: 7,
  august: 8, aug: 8, aout: 8,
  september: 9, sep: 9, sept: 9, septembre: 9,
  october: 10, oct: 10, octobre: 10,
  november: 11, nov: 11, novembre: 11,
  december: 12, dec: 12, decembre: 12,
};

const MONTH_NAMES = Object.keys(MONTHS).sort((a, b) => b.length - a.length).join('|');

export interface FoundDate {
  /** ISO date `YYYY-MM-DD`. */
  iso: string;
  raw: string;
  index: number;
  /** 1 for unambiguous forms (ISO, month names), lower when day and month could be swapped. */
  certainty: number;
}

/** Lowercase without accents, same length as the input when possible (indexes stay usable). */
export function fold(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

function iso(y: number, m: number, d: number): string | null {
  if (y < 100) y += 2000;
  if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1900 || y > 2200) return null;
  const dt = new Date(Date.UTC(y, m - 1, d));
  if (dt.getUTCMonth() !== m - 1) return null;
  return dt.toISOString().slice(0, 10);
}

export function findDates(line: string): FoundDate[] {
  const text = fold(line);
  const out: FoundDate[] = [];
  const push = (value: string | null, raw: string, index: number, certainty: number) => {
    if (value && !out.some((d) => d.index === index)) out.push({ iso: value, raw, index, certainty });
  };
  for (const m of text.matchAll(/\b(\d{4})-(\d{1,2})-(\d{1,2})\b/g)) push(iso(+m[1]!, +m[2]!, +m[3]!), m[0], m.index, 1);
  for (const m of text.matchAll(/\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})\b/g)) {
    const a = +m[1]!;
    const b = +m[2]!;
    const y = +m[3]!;
    if (b > 12 && a <= 12) push(iso(y, a, b), m[0], m.index, 0.9);
    else push(iso(y, b, a), m[0], m.index, a > 12 || a === b ? 0.9 : 0.75);
  }
  const dayFirst = new RegExp(String.raw`\b(\d{1,2})(?:er|st|nd|rd|th)?\s+(${MONTH_NAMES})\.?,?\s+(\d{4})\b`, 'g');
  for (const m of text.matchAll(dayFirst)) push(iso(+m[3]!, MONTHS[m[2]!]!, +m[1]!), m[0], m.index, 1);
  const monthFirst = new RegExp(String.raw`\b(${MONTH_NAMES})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b`, 'g');
  for (const m of text.matchAll(monthFirst)) push(iso(+m[3]!, MONTHS[m[1]!]!, +m[2]!), m[0], m.index, 1);
  return out.sort((x, y) => x.index - y.index);
}
