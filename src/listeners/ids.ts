import type { ListenerArgs } from '../app/deps.js';

export const LISTENER_TYPES = ['chat', 'notif', 'msg', 'workflow'] as const;
export type ListenerType = (typeof LISTENER_TYPES)[number];

export function isListenerType(t: string): t is ListenerType {
  return (LISTENER_TYPES as readonly string[]).includes(t);
}
export type ChatMode = 'chats' | 'job_chats';

/**
 * Listener ids of CONTRACT §4: `chat_{uid}_{space}_{thread}`, `notif_{uid}`, `msg_{uid}`,
 * `workflow_{uid}_{space}_{thread}` or `workflow_{uid}`. A workflow listener with only one of
 * space/thread (e.g. started by job id) keeps the parts it has: `workflow_{uid}_{job}`. Any other
 * type (only reachable through the read/remove methods; register refuses it) is `{type}_{uid}`,
 * as the original.
 */
export function listenerId(a: Pick<ListenerArgs, 'user_id' | 'listener_type' | 'space_code' | 'thread_key'>): string {
  const uid = a.user_id;
  switch (a.listener_type) {
    case 'chat':
      return `chat_${uid}_${a.space_code ?? ''}_${a.thread_key ?? ''}`;
    case 'notif':
      return `notif_${uid}`;
    case 'msg':
      return `msg_${uid}`;
    case 'workflow':
      return ['workflow', uid, a.space_code, a.thread_key].filter((x): x is string => typeof x === 'string' && x !== '').join('_');
    default:
      return `${a.listener_type}_${uid}`;
  }
}

/** Accepted chat modes; anything else (null, `auto`) means the default `chats` (the original's `auto` always resolved to `chats`). */
export function chatMode(mode: string | null | undefined): ChatMode {
  return mode === 'job_chats' ? 'job_chats' : 'chats';
}

/** An on-demand watcher a caller asked for (stored as a JSON field in Redis). */
export type WatchSpec = { kind: 'chat'; space: string; thread: string; mode: ChatMode } | { kind: 'workflow'; job: string };

export function specField(s: WatchSpec): string {
  return s.kind === 'chat' ? JSON.stringify(['chat', s.mode, s.space, s.thread]) : JSON.stringify(['workflow', s.job]);
}

export function parseSpecField(field: string): WatchSpec | undefined {
  try {
    const v = JSON.parse(field) as unknown;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
    if (v[0] === 'chat' && v.length === 4) return { kind: 'chat', mode: chatMode(v[1]), space: v[2] as string, thread: v[3] as string };
    if (v[0] === 'workflow' && v.length === 2) return { kind: 'workflow', job: v[1] as string };
  } catch {
    /* not ours: ignored by the caller */
  }
  return undefined;
}

/**
 * The watcher a listener registration starts, if any: chat needs space+thread; workflow watches a
 * job whose id is `thread_key` (`space_code` is the company, kept in the id only); notif/msg watchers
 * follow presence, not registrations.
 */
export function specFor(a: Pick<ListenerArgs, 'listener_type' | 'space_code' | 'thread_key'>, mode: string | null): WatchSpec | undefined {
  if (a.listener_type === 'chat' && a.space_code && a.thread_key) return { kind: 'chat', space: a.space_code, thread: a.thread_key, mode: chatMode(mode) };
  if (a.listener_type === 'workflow') {
    if (a.thread_key) return { kind: 'workflow', job: a.thread_key };
  }
  return undefined;
}
