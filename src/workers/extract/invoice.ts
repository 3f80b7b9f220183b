/**
 * Invoice field extraction from plain text (pure, deterministic, no I/O). Each field carries a
 * confidence in [0, 1]: labelled values score high, inferred values (largest amount, first date,
 * letterhead) score low, and totals that add up (subtotal + VAT = total) are raised.
 */
import { findDates, fold } from './dates.js';
import { findTaxIds, type TaxId } from './ids.js';
import { dominantCurrency, findAmounts, type FoundAmount } from './numbers.js';
import { findParties, type PartyField } from './parties.js';

export interface TextField {
  value: string;
  confidence: number;
  source: string;
}

export interface MoneyField {
  amount: number;
  currency: string | null;
  confidence: number;
  source: string;
}

export interface VatField {
  rate: number | null;
  amount: number | null;
  currency: string | null;
  confidence: number;
  source: string;
}

export interface InvoiceExtraction {
  language: 'fr' | 'en' | 'unknown';
  invoice_number: TextField | null;
  invoice_date: TextField | null;
  due_date: TextField | null;
  dates: string[];
  currency: TextField | null;
  subtotal: MoneyField | null;
  vat: VatField | null;
  total: MoneyField | null;
  tax_ids: TaxId[];
  seller: PartyField | null;
  buyer: PartyField | null;
  totals_consistent: boolean | null;
  fields_found: number;
  warnings: string[];
}

const SUBTOTAL = /\b(sub-?\s?total|sous-?\s?total|total\s+h\.?\s?t\b|montant\s+h\.?\s?t\b|total\s+hors\s+tax\w*|net\s+amount|total\s+net\s+h\.?t|total\s+(?:excl\.?|excluding|before|net\s+of)\s+(?:vat|tax)\w*)/;
const TOTAL_STRONG = /\b(total\s+t\.?t\.?c|montant\s+t\.?t\.?c|net\s+a\s+payer|total\s+a\s+payer|montant\s+du|reste\s+a\s+payer|amount\s+due|balance\s+due|total\s+due|grand\s+total|total\s+amount|invoice\s+total|amount\s+payable|total\s+\(?(?:incl\.?|including|inc\.?)\s+(?:vat|tax)\w*)/;
const TOTAL_PLAIN = /\btotal\b/;
const VAT = /\b(t\.?v\.?a|vat|tax|taxes|gst|sales\s+tax)\b/;
const VAT_ID_LINE = /\b(vat|tva)\s*(?:reg\w*|id|no\.?|number|n°|intra\w*)|\bn°\s*(?:de\s+)?tva|\bnumero\s+(?:de\s+)?tva|\bidentifiant\b/;
const INVOICE_NO = [
  { re: /\b(?:invoice\s+(?:number|no\.?|num\.?|#)|facture\s+(?:n°|nº|no\.?|num(?:e|é)ro|#)|num(?:e|é)ro\s+de\s+facture|n°\s*de\s+facture|inv\s*#|ref(?:erence)?\s+facture)\s*[:#]?\s*([A-Za-z0-9][\w\-/.]*)/i, confidence: 0.95 },
  { re: /\b(?:invoice|facture)\s*[:#]?\s*([A-Za-z0-9][\w\-/.]*\d[\w\-/.]*)/i, confidence: 0.75 },
];
const DUE = /\b(due\s+date|payment\s+due|due\s+(?:on|by)|date\s+d'?\s?echeance|echeance|a\s+payer\s+avant|payable\s+(?:avant|le|before|by))\b/;
const ISSUE = /\b(invoice\s+date|date\s+of\s+issue|issue\s+date|issued\s+on|date\s+de\s+(?:la\s+)?facture|date\s+d'?\s?emission|date\s+de\s+facturation|fait\s+le)\b/;
const ANY_DATE_LABEL = /\bdate\b/;

const src = (line: string) => line.trim().slice(0, 160);
const round2 = (n: number) => Math.round(n * 100) / 100;
const clamp = (c: number) => Math.max(0, Math.min(1, Math.round(c * 100) / 100));

/** The value of a labelled line: its last amount, or the first amount of the next line. */
function labelledAmount(lines: readonly string[], i: number): { found: FoundAmount; sameLine: boolean } | null {
  const here = findAmounts(lines[i]!);
  if (here.length > 0) return { found: here[here.length - 1]!, sameLine: true };
  const next = lines[i + 1] ? findAmounts(lines[i + 1]!) : [];
  return next.length > 0 ? { found: next[0]!, sameLine: false } : null;
}

function better<T extends { confidence: number }>(cur: T | null, cand: T): T {
  // Later lines win ties: final totals sit at the bottom of an invoice.
  return !cur || cand.confidence >= cur.confidence ? cand : cur;
}

function findMoney(lines: readonly string[]) {
  let subtotal: MoneyField | null = null;
  let total: MoneyField | null = null;
  let vat: VatField | null = null;
  lines.forEach((line, i) => {
    const f = fold(line);
    const isSub = SUBTOTAL.test(f);
    const isStrong = !isSub && TOTAL_STRONG.test(f);
    const isVat = !isSub && !isStrong && VAT.test(f) && !VAT_ID_LINE.test(f);
    const isTotal = !isSub && !isStrong && !isVat && TOTAL_PLAIN.test(f);
    if (!isSub && !isStrong && !isVat && !isTotal) return;
    const a = labelledAmount(lines, i);
    if (isVat) {
      const rateM = /(\d{1,2}(?:[.,]\d{1,3})?)\s?%/.exec(line);
      const rate = rateM ? Number(rateM[1]!.replace(',', '.')) : null;
      if (!a && rate === null) return;
      const validRate = rate !== null && rate > 0 && rate <= 30 ? rate : null;
      vat = better(vat, {
        rate: validRate,
        amount: a ? a.found.amount : null,
        currency: a?.found.currency ?? null,
        confidence: (a ? (a.sameLine ? 0.85 : 0.7) : 0.6) + (validRate !== null && a ? 0.05 : 0),
        source: src(line),
      });
      return;
    }
    if (!a) return;
    const cand: MoneyField = { amount: a.found.amount, currency: a.found.currency, confidence: (isTotal ? 0.8 : 0.92) - (a.sameLine ? 0 : 0.1), source: src(line) };
    if (isSub) subtotal = better(subtotal, cand);
    else total = better(total, cand);
  });
  return { subtotal: subtotal as MoneyField | null, total: total as MoneyField | null, vat: vat as VatField | null };
}

function findInvoiceNumber(lines: readonly string[]): TextField | null {
  let best: TextField | null = null;
  for (const { re, confidence } of INVOICE_NO) {
    for (const line of lines) {
      const m = re.exec(line);
      const value = m?.[1]?.replace(/[.,;:]+$/, '');
      if (!value || !/\d/.test(value) || findDates(value).length > 0) continue;
      if (!best || confidence > best.confidence) best = { value, confidence, source: src(line) };
    }
  }
  return best;
}

function findInvoiceDates(lines: readonly string[]) {
  let invoiceDate: TextField | null = null;
  let dueDate: TextField | null = null;
  const all: string[] = [];
  lines.forEach((line, i) => {
    const dates = findDates(line);
    for (const d of dates) if (!all.includes(d.iso)) all.push(d.iso);
    const f = fold(line);
    const label = DUE.test(f) ? 'due' : ISSUE.test(f) ? 'issue' : ANY_DATE_LABEL.test(f) ? 'date' : null;
    if (!label) return;
    const sameLine = dates.length > 0;
    const d = sameLine ? dates[0] : lines[i + 1] ? findDates(lines[i + 1]!)[0] : undefined;
    if (!d) return;
    const base = (label === 'date' ? 0.8 : 0.95) - (sameLine ? 0 : 0.1);
    const field = { value: d.iso, confidence: clamp(base * d.certainty), source: src(line) };
    if (label === 'due') dueDate = better(dueDate, field);
    else invoiceDate = better(invoiceDate, field);
  });
  const first = all[0];
  const inv = invoiceDate as TextField | null;
  if (!inv && first && first !== (dueDate as TextField | null)?.value) {
    invoiceDate = { value: first, confidence: 0.45, source: 'first date in the document' };
  }
  return { invoiceDate: invoiceDate, dueDate: dueDate as TextField | null, all };
}

function language(text: string): InvoiceExtraction['language'] {
  const f = fold(text);
  const fr = (f.match(/\b(facture|tva|ttc|montant|echeance|fournisseur|net a payer|siret|date de|hors taxes?)\b/g) ?? []).length;
  const en = (f.match(/\b(invoice|vat|amount|due|bill to|subtotal|tax|payment|total due)\b/g) ?? []).length;
  if (fr === 0 && en === 0) return 'unknown';
  return fr >= en ? 'fr' : 'en';
}

/** Reconciles subtotal + VAT = total; fills a missing part by computation (marked as such). */
function reconcile(x: Pick<InvoiceExtraction, 'subtotal' | 'vat' | 'total' | 'warnings'>): boolean | null {
  const { subtotal, vat, total } = x;
  if (vat && vat.amount === null && vat.rate !== null && subtotal) {
    vat.amount = round2((subtotal.amount * vat.rate) / 100);
    vat.source = `${vat.source} (amount computed from rate × subtotal)`;
  }
  if (subtotal && vat?.amount != null && total) {
    const ok = Math.abs(subtotal.amount + vat.amount - total.amount) <= 0.02 * Math.max(1, Math.abs(total.amount) / 1000);
    if (ok) {
      for (const f of [subtotal, vat, total]) f.confidence = clamp(Math.max(f.confidence, 0.9) + 0.07);
    } else {
      x.warnings.push(`subtotal ${subtotal.amount} + VAT ${vat.amount} does not equal total ${total.amount}`);
      total.confidence = clamp(total.confidence - 0.15);
    }
    return ok;
  }
  if (subtotal && vat?.amount != null && !total) {
    x.total = { amount: round2(subtotal.amount + vat.amount), currency: subtotal.currency ?? vat.currency, confidence: 0.6, source: 'computed: subtotal + VAT' };
  }
  return null;
}

export function extractInvoice(text: string): InvoiceExtraction {
  const lines = text.normalize('NFC').split(/\r?\n/).map((l) => l.replace(/\t/g, ' '));
  const money = findMoney(lines);
  const dates = findInvoiceDates(lines);
  const parties = findParties(lines);
  const out: InvoiceExtraction = {
    language: language(text),
    invoice_number: findInvoiceNumber(lines),
    invoice_date: dates.invoiceDate,
    due_date: dates.dueDate,
    dates: dates.all,
    currency: null,
    subtotal: money.subtotal,
    vat: money.vat,
    total: money.total,
    tax_ids: findTaxIds(lines),
    seller: parties.seller,
    buyer: parties.buyer,
    totals_consistent: null,
    fields_found: 0,
    warnings: [],
  };
  if (!out.total) {
    const all = lines.flatMap((l) => findAmounts(l)).filter((a) => a.currency !== null);
    const largest = all.sort((a, b) => b.amount - a.amount)[0];
    if (largest) out.total = { amount: largest.amount, currency: largest.currency, confidence: 0.4, source: 'largest amount in the document' };
  }
  out.totals_consistent = reconcile(out);
  const cur = out.total?.currency ?? out.subtotal?.currency ?? out.vat?.currency ?? null;
  const dominant = dominantCurrency(text);
  if (cur) out.currency = { value: cur, confidence: out.total?.currency === cur ? clamp(out.total.confidence) : 0.7, source: 'amount' };
  else if (dominant) out.currency = { value: dominant, confidence: 0.6, source: 'most frequent currency in the document' };
  for (const f of [out.total, out.subtotal]) if (f && !f.currency && out.currency) f.currency = out.currency.value;
  if (out.vat && !out.vat.currency && out.currency) out.vat.currency = out.currency.value;
  // A letterhead guess means nothing in a text with no other invoice field.
  const others = [out.invoice_number, out.invoice_date, out.due_date, out.currency, out.subtotal, out.vat, out.total, out.buyer].filter(Boolean).length + out.tax_ids.length;
  if (others === 0 && out.seller && out.seller.confidence < 0.5) out.seller = null;
  out.fields_found = [out.invoice_number, out.invoice_date, out.due_date, out.currency, out.subtotal, out.vat, out.total, out.seller, out.buyer].filter(Boolean).length + (out.tax_ids.length > 0 ? 1 : 0);
  if (out.fields_found === 0) out.warnings.push('no invoice field was recognised in this text');
  return out;
}
