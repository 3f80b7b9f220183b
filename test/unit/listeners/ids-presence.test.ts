import { Timestamp } from 'firebase-admin/firestore';
import { describe, expect, it } from 'vitest';
import { chatMode, listenerId, parseSpecField, specField, specFor } from '../../../src/listeners/ids.js';
import { isOnline, parsePresence } from '../../../src/listeners/presence.js';

const a = (listener_type: 'chat' | 'notif' | 'msg' | 'workflow', space_code: string | null = null, thread_key: string | null = null) => ({ user_id: 'u1', listener_type, space_code, thread_key });

describe('listener ids (CONTRACT §4)', () => {
  it('follows the contract formats', () => {
    expect(listenerId(a('chat', 's', 't'))).toBe('chat_u1_s_t');
    expect(listenerId(a('notif'))).toBe('notif_u1');
    expect(listenerId(a('msg'))).toBe('msg_u1');
    expect(listenerId(a('workflow', 's', 't'))).toBe('workflow_u1_s_t');
    expect(listenerId(a('workflow'))).toBe('workflow_u1');
  });

  it('maps registrations to watcher specs that round-trip through Redis fields', () => {
    expect(specFor(a('chat', 's', 't'), null)).toEqual({ kind: 'chat', space: 's', thread: 't', mode: 'chats' });
    expect(specFor(a('chat', 's', 't'), 'job_chats')).toEqual({ kind: 'chat', space: 's', thread: 't', mode: 'job_chats' });
    expect(specFor(a('workflow', 'company', 'job1'), null)).toEqual({ kind: 'workflow', job: 'job1' });
    expect(specFor(a('workflow'), null)).toBeUndefined();
    expect(specFor(a('notif'), null)).toBeUndefined();
    expect(chatMode('bogus')).toBe('chats');
    for (const s of [specFor(a('chat', 's:x', 't|y'), 'job_chats')!, { kind: 'workflow' as const, job: 'j' }]) expect(parseSpecField(specField(s))).toEqual(s);
    expect(parseSpecField('garbage')).toBeUndefined();
  });
});

describe('presence documents (CONTRACT §7)', () => {
  const now = Date.UTC(2025, 0, 1, 12);
  it('is online only with status online and a fresh heartbeat', () => {
    const fresh = parsePresence({ status: 'online', heartbeat_at: Timestamp.fromMillis(now - 89_000), ttl_seconds: 90 }, 90);
    expect(isOnline(fresh, now)).toBe(true);
    expect(isOnline({ ...fresh, heartbeatMs: now - 91_000 }, now)).toBe(false);
    expect(isOnline({ ...fresh, status: 'offline' }, now)).toBe(false);
    expect(isOnline(parsePresence({ status: 'online' }, 90), now)).toBe(false);
    expect(isOnline(undefined, now)).toBe(false);
  });

  it('uses the default TTL when the document has none, reads companies, tolerates a legacy string', () => {
    let legacy = 0;
    const e = parsePresence({ status: 'online', heartbeat_at: new Date(now).toISOString(), authorized_companies_ids: ['c1', 2] }, 30, () => legacy++);
    expect(e).toEqual({ status: 'online', heartbeatMs: now, ttlSeconds: 30, companies: ['c1'] });
    expect(legacy).toBe(1);
  });
});
