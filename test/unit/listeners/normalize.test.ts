import { Timestamp } from 'firebase-admin/firestore';
import { describe, expect, it } from 'vitest';
import { byTimestampDesc, companyAllowed, diffFields, isoTime, messageItem, notificationItem, stepStatus } from '../../../src/listeners/normalize.js';

describe('notification items (CONTRACT §6)', () => {
  it('has exactly the contract fields, with defaults and safe values', () => {
    const item = notificationItem('d1', { timestamp: Timestamp.fromMillis(Date.UTC(2025, 0, 1)), additional_info: { a: [1] }, read: false, status: 3, unknown: 'x' });
    expect(item).toEqual({
      doc_id: 'd1', job_id: '', file_id: '', file_name: '', status: '3', collection_id: '', collection_name: '', function_name: '',
      timestamp: '2025-01-01T00:00:00.000Z', read: false, additional_info: '{"a":[1]}', info_message: '', message: '', url: '',
    });
    expect(Object.keys(item)).toEqual(['doc_id', 'job_id', 'file_id', 'file_name', 'status', 'collection_id', 'collection_name', 'function_name', 'timestamp', 'read', 'additional_info', 'info_message', 'message', 'url']);
  });

  it('direct messages drop read and info_message; scalars become the message', () => {
    const m = messageItem('k', { read: true, info_message: 'x', message: 'hi' });
    expect(m).not.toHaveProperty('read');
    expect(m).not.toHaveProperty('info_message');
    expect(messageItem('k2', 'plain').message).toBe('plain');
  });

  it('normalises timestamps from strings, epoch seconds/ms and Dates', () => {
    expect(isoTime('2025-01-01T01:00:00+01:00')).toBe('2025-01-01T00:00:00.000Z');
    expect(isoTime(1735689600)).toBe('2025-01-01T00:00:00.000Z');
    expect(isoTime(1735689600000)).toBe('2025-01-01T00:00:00.000Z');
    expect(isoTime(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
    expect(isoTime(undefined)).toBe('');
    expect(isoTime('not a date')).toBe('not a date');
  });

  it('filters by authorized companies (empty = all) and sorts newest first, undated last', () => {
    expect(companyAllowed('c1', [])).toBe(true);
    expect(companyAllowed('c1', ['c2'])).toBe(false);
    const items = [
      { doc_id: 'b', timestamp: '' },
      { doc_id: 'a', timestamp: '2025-01-01T00:00:00.000Z' },
      { doc_id: 'c', timestamp: '2025-01-02T00:00:00.000Z' },
    ];
    expect(byTimestampDesc(items).map((i) => i.doc_id)).toEqual(['c', 'a', 'b']);
  });
});

describe('workflow diffs', () => {
  it('reports only changed, added and removed fields', () => {
    expect(diffFields({ a: 1, b: { x: 1 }, c: 3 }, { a: 1, b: { x: 2 }, d: 4 })).toEqual({ b: { x: 2 }, d: 4, c: null });
    expect(diffFields({ t: Timestamp.fromMillis(0) }, { t: Timestamp.fromMillis(0) })).toEqual({});
    expect(stepStatus({ APBookeeper_step_status: { s: 1 } })).toEqual({ s: 1 });
    expect(stepStatus({ APBookeeper_step_status: 'x' })).toEqual({});
    expect(stepStatus(undefined)).toEqual({});
  });
});
