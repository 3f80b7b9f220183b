import { toJsonSafe } from '../shared/events.js';

/**
 * Event normalisation (CONTRACT §6), pure functions: notification and direct-message items,
 * company filtering, ordering, and the workflow diffs.
 */

export type MessageItem = {
  doc_id: string;
  job_id: string;
  file_id: string;
  file_name: string;
  status: string;
  collection_id: string;
  collection_name: string;
  function_name: string;
  timestamp: string;
  additional_info: string;
  message: string;
  url: string;
};

/** A notification item is a direct-message item plus its read flag and info message. */
export type NotificationItem = MessageItem & { read: boolean; info_message: string };

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const safe = toJsonSafe(v);
  return typeof safe === 'string' ? safe : JSON.stringify(safe);
}

/** Timestamps (Firestore Timestamp, Date, ISO string, epoch ms/s) as ISO-8601; '' when absent. */
export function isoTime(v: unknown): string {
  if (v === null || v === undefined || v === '') return '';
  if (typeof v === 'number') {
    const ms = v < 1e12 ? v * 1000 : v;
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? '' : d.toISOString();
  }
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? v : new Date(t).toISOString();
  }
  const safe = toJsonSafe(v);
  return typeof safe === 'string' ? safe : '';
}

/** A notification document → the item of CONTRACT §6 (exactly those fields). */
export function notificationItem(docId: string, d: Record<string, unknown>): NotificationItem {
  return {
    doc_id: docId,
    job_id: str(d.job_id),
    file_id: str(d.file_id),
    file_name: str(d.file_name),
    status: str(d.status),
    collection_id: str(d.collection_id),
    collection_name: str(d.collection_name),
    function_name: str(d.function_name),
    timestamp: isoTime(d.timestamp),
    read: d.read === true,
    // The UI parses additional_info as a JSON string (seed §9): objects are serialised, strings kept.
    additional_info: str(d.additional_info),
    info_message: str(d.info_message),
    message: str(d.message),
    url: str(d.url),
  };
}

/** A direct message (Realtime Database child) → the same shape without `read` / `info_message`. */
export function messageItem(key: string, d: unknown): MessageItem {
  const { read: _read, info_message: _info, ...rest } = notificationItem(key, d !== null && typeof d === 'object' ? (d as Record<string, unknown>) : { message: d });
  return rest;
}

/** Only items of the user's authorized companies; an empty (or missing) list means all. */
export function companyAllowed(collectionId: string, companies: readonly string[]): boolean {
  return companies.length === 0 || companies.includes(collectionId);
}

/** Newest first; items without a timestamp last; ties by doc_id for a stable order. */
export function byTimestampDesc<T extends { timestamp: string; doc_id: string }>(items: T[]): T[] {
  const t = (x: T) => {
    const v = Date.parse(x.timestamp);
    return Number.isNaN(v) ? -Infinity : v;
  };
  return [...items].sort((a, b) => t(b) - t(a) || (a.doc_id < b.doc_id ? -1 : a.doc_id > b.doc_id ? 1 : 0));
}

/** The changed entries of `next` vs `prev` (removed keys → null); JSON-safe values compared. */
export function diffFields(prev: Record<string, unknown>, next: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
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
