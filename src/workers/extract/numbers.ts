/**
 * Amounts and currencies in free text (pure, no I/O). Understands European (`1.234,56`,
 * `1 234,56`), US (`1,234.56`), Swiss (`1'234.56`) and plain (`1234.5`) number formats, with a
 * currency symbol or ISO code before or after the number.
 */

const CURRENCY_TOKENS: ReadonlyArray<[RegExp, string]> = [
  [/€|\beur(?:os?)?\b/i, 'EUR'],
  [/\bus\$|\busd\b|\$/i, 'USD'],
  [/£|\bgbp\b/i, 'GBP'],
  [/\bchf\b|\bfr\.\s/i, 'CHF'],
  [/\bcad\b|\bc\$/i, 'CAD'],
  [/\bjpy\b|¥/i, 'JPY'],
];

const CUR = String.raw`(?:€|\$|£|¥|EUR|USD|GBP|CHF|CAD|JPY|euros?)`;
const NUM = String.raw`\d{1,3}(?:[ .,'\u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?`;
/** An amount with an optional currency before or after. Group 1/4 currency, 2 sign, 3 number. */
const AMOUNT_RE = new RegExp(String.raw`(?:(${CUR})\s?)?(-)?\s?(${NUM})(?!\d)(?:\s?(${CUR}))?(?!\s?%)`, 'gi');

export interface FoundAmount {
  amount: number;
  currency: string | null;
  raw: string;
  index: number;
}

export function currencyOf(token: string | undefined): string | null {
  if (!token) return null;
  for (const [re, code] of CURRENCY_TOKENS) if (re.test(token)) return code;
  return null;
}

/** Parses one number in any of the supported formats; NaN when it is not a number. */
export function parseNumber(raw: string): number {
  let s = raw.replace(/[\s\u00a0\u202f']/g, '');
  const lastDot = s.lastIndexOf('.');
  const lastComma = s.lastIndexOf(',');
  if (lastDot >= 0 && lastComma >= 0) {
    const dec = lastDot > lastComma ? '.' : ',';
    const thou = dec === '.' ? ',' : '.';
    s = s.split(thou).join('').replace(dec, '.');
  } else if (lastComma >= 0 || lastDot >= 0) {
    const sep = lastComma >= 0 ? ',' : '.';
    const parts = s.split(sep);
    const tail = parts[parts.length - 1] ?? '';
    // One separator followed by 1-2 digits is a decimal mark; groups of three are thousands.
    if (parts.length === 2 && tail.length <= 2) s = parts.join('.');
    else if (parts.slice(1).every((p) => p.length === 3)) s = parts.join('');
    else return Number.NaN;
  }
  return /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : Number.NaN;
}

/** Every amount in a line, left to right; percentages, dates and long digit runs are not amounts. */
export function findAmounts(line: string): FoundAmount[] {
  const cleaned = maskNonAmounts(line);
  const out: FoundAmount[] = [];
  for (const m of cleaned.matchAll(AMOUNT_RE)) {
    const num = m[3];
    if (!num) continue;
    const digits = num.replace(/\D/g, '');
    if (digits.length > 12) continue;
    let value = parseNumber(num);
    if (!Number.isFinite(value)) continue;
    if (m[2]) value = -value;
    out.push({ amount: Math.round(value * 100) / 100, currency: currencyOf(m[1] ?? m[4]), raw: m[0].trim(), index: m.index ?? 0 });
  }
  return out;
}

/** Replaces dates, percentages and identifiers with spaces so their digits are not read as amounts. */
function maskNonAmounts(line: string): string {
  const blank = (s: string) => ' '.repeat(s.length);
  return line
    .replace(/\b\d{4}-\d{2}-\d{2}\b/g, blank)
    .replace(/\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b/g, blank)
    .replace(/\d+(?:[.,]\d+)?\s?%/g, blank)
    .replace(/\b[A-Z]{1,}[-/]?\d[\w-/]*\b/g, blank)
    .replace(/\b\d[\w-/]*[A-Z]+[\w-/]*\b/g, blank);
}

/** The most frequent currency mentioned anywhere in the text, or null. */
export function dominantCurrency(text: string): string | null {
  const counts = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(CUR, 'gi'))) {
    const c = currencyOf(m[0]);
    if (c) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let best: string | null = null;
  let n = 0;
  for (const [c, k] of counts) if (k > n) [best, n] = [c, k];
  return best;
}
