import { toJsonSafe } from '../shared/events.js';

/**
 * Event normalisation, pure functions: the ONE builder of notification and direct-message items
 * (CONTRACT §6, §13.4), used by the listeners (Redis, sockets) and by the gateway's connect-time
 * sync alike, plus company filtering, ordering and the workflow diffs.
 *
 * Items are derived as the original service derived them (ORIGINAL §5.3): `file_name` defaults to
 * "Document", `status` to "info", `message` is "{file_name} - {status}", `url` "/edit_form/{job_id}",
 * `additional_info` is always a string ("{}" when absent), `info_message` comes from additional_info
 * parsed as JSON (`error_message`, else `message`, else ""), and `timestamp` is a string passed through
 * unchanged, a Timestamp/Date as Python's `isoformat()` in UTC, anything else "".
 */

export type MessageItem = {
  message: string;
  file_name: string;
  collection_id: string;
  collection_name: string;
  url: string;
  status: string;
  doc_id: string;
  job_id: string;
  file_id: string;
  function_name: string;
  timestamp: string;
  additional_info: string;
};

/** A notification item is a direct-message item plus its read flag and info message. */
export type NotificationItem = MessageItem & { read: boolean; info_message: string };

/** Field text: strings kept, numbers/booleans printed, null/absent → ''. Objects as JSON. */
function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  const safe = toJsonSafe(v);
  return typeof safe === 'string' ? safe : JSON.stringify(safe);
}

/** A value Python's `x or default` keeps: not null/undefined/''/0/false. */
function orDefault(v: unknown, fallback: string): string {
  if (v === null || v === undefined || v === '' || v === 0 || v === false) return fallback;
  return str(v);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * Python's `datetime.isoformat()` of a UTC instant: `2025-03-04T10:11:12.345000+00:00`, the fraction
 * (microseconds) left out when it is zero. `micros` is 0..999999.
 */
export function pythonIsoformat(date: Date, micros = date.getUTCMilliseconds() * 1000): string {
  const base = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  return `${base}${micros > 0 ? `.${pad(micros, 6)}` : ''}+00:00`;
}

/** `%Y-%m-%dT%H:%M:%SZ` (UTC, whole seconds), the original's registry format. */
export function isoSecondsZ(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** The original's `_safe_iso`: strings pass through, Timestamps/Dates → isoformat (UTC), else ''. */
export function itemTimestamp(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '' : pythonIsoformat(v);
  if (v !== null && typeof v === 'object') {
    const t = v as { toDate?: unknown; seconds?: unknown; nanoseconds?: unknown; _seconds?: unknown; _nanoseconds?: unknown };
    const seconds = typeof t.seconds === 'number' ? t.seconds : typeof t._seconds === 'number' ? t._seconds : undefined;
    const nanos = typeof t.nanoseconds === 'number' ? t.nanoseconds : typeof t._nanoseconds === 'number' ? t._nanoseconds : undefined;
    if (seconds !== undefined && nanos !== undefined && Number.isFinite(seconds) && Number.isFinite(nanos)) {
      const d = new Date(seconds * 1000);
      if (Number.isNaN(d.getTime())) return '';
      return pythonIsoformat(d, Math.floor(nanos / 1000) % 1_000_000);
    }
  }
  return '';
}

/** The original's `_extract_additional_info_message`. */
export function infoMessage(additionalInfo: unknown): string {
  let info: unknown;
  if (typeof additionalInfo === 'string' && additionalInfo !== '') {
    try {
      info = JSON.parse(additionalInfo);
    } catch {
      return '';
    }
  } else if (additionalInfo !== null && typeof additionalInfo === 'object' && !Array.isArray(additionalInfo)) {
    info = additionalInfo;
  } else return '';
  if (info === null || typeof info !== 'object' || Array.isArray(info)) return '';
  const o = info as Record<string, unknown>;
  if (o.error_message !== undefined && o.error_message !== null && o.error_message !== '' && o.error_message !== false && o.error_message !== 0) return str(o.error_message);
  if (o.message !== undefined && o.message !== null && o.message !== '' && o.message !== false && o.message !== 0) return str(o.message);
  return '';
}

function asRecord(d: unknown): Record<string, unknown> {
  return d !== null && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : {};
}

/** A direct-message entry (or the common part of a notification) → the item of CONTRACT §13.4. */
export function messageItem(docId: string, data: unknown): MessageItem {
  const d = asRecord(data);
  const fileName = orDefault(d.file_name, 'Document');
  const status = orDefault(d.status, 'info');
  const jobId = orDefault(d.job_id, '');
  const additional = d.additional_info === undefined ? '{}' : d.additional_info;
  return {
    message: `${fileName} - ${status}`,
    file_name: fileName,
    collection_id: str(d.collection_id),
    collection_name: str(d.collection_name),
    url: `/edit_form/${jobId}`,
    status,
    doc_id: docId,
    job_id: jobId,
    file_id: str(d.file_id),
    function_name: str(d.function_name),
    timestamp: itemTimestamp(d.timestamp),
    additional_info: typeof additional === 'string' ? additional : str(additional),
  };
}

/** A notification document → the item of CONTRACT §13.4 (exactly those fields). */
export function notificationItem(docId: string, data: unknown): NotificationItem {
  const d = asRecord(data);
  return { ...messageItem(docId, d), read: Boolean(d.read ?? false) && d.read !== 0 && d.read !== '', info_message: infoMessage(d.additional_info === undefined ? '{}' : d.additional_info) };
}

/**
 * The direct-message node `clients/{uid}/direct_message_notif` (a map id → object) → items,
 * entries that are not objects skipped, company-filtered, newest first.
 */
export function messageItemsFromNode(val: unknown, companies: readonly string[]): MessageItem[] {
  if (val === null || typeof val !== 'object' || Array.isArray(val)) return [];
  const items: MessageItem[] = [];
  for (const [k, v] of Object.entries(val as Record<string, unknown>)) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
    const item = messageItem(k, v);
    if (companyAllowed(item.collection_id, companies)) items.push(item);
  }
  return byTimestampDesc(items);
}

/** Only items of the user's authorized companies; an empty (or missing) list means all. */
export function companyAllowed(collectionId: string, companies: readonly string[]): boolean {
  return companies.length === 0 || companies.includes(collectionId);
}

/** As the original: by the timestamp string, descending (ISO strings sort by time); ties by doc_id. */
export function byTimestampDesc<T extends { timestamp: string; doc_id: string }>(items: T[]): T[] {
  return [...items].sort((a, b) => (a.timestamp < b.timestamp ? 1 : a.timestamp > b.timestamp ? -1 : a.doc_id < b.doc_id ? -1 : a.doc_id > b.doc_id ? 1 : 0));
}

/** The changed entries of `next` vs `prev` (removed keys → null); JSON-safe values compared. */
export function diffFields(prev: Record<string, unknown>, next: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(next)) {
    const a = JSON.stringify(toJsonSafe(prev[k]) ?? null);
    const b = JSON.stringify(toJsonSafe(v) ?? null);
    if (a !== b) out[k] = toJsonSafe(v) ?? null;
  }
  for (const k of Object.keys(prev)) if (!(k in next)) out[k] = null;
  return out;
}

/** `APBookeeper_step_status` of a task_manager document, as a plain object (empty when absent). */
export function stepStatus(d: Record<string, unknown> | undefined): Record<string, unknown> {
  const v = d?.APBookeeper_step_status;
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
