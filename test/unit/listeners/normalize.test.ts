import { Timestamp } from 'firebase-admin/firestore';
import { describe, expect, it } from 'vitest';
import {
  byTimestampDesc,
  companyAllowed,
  diffFields,
  infoMessage,
  isoSecondsZ,
  itemTimestamp,
  messageItem,
  messageItemsFromNode,
  notificationItem,
  pythonIsoformat,
  stepStatus,
} from '../../../src/listeners/normalize.js';

describe('notification items (CONTRACT §13.4, as the original derived them)', () => {
  it('a document with only {read:false} gets the original defaults', () => {
    const item = notificationItem('d1', { read: false });
    expect(item).toEqual({
      message: 'Document - info', file_name: 'Document', collection_id: '', collection_name: '', url: '/edit_form/', status: 'info', read: false,
      doc_id: 'd1', job_id: '', file_id: '', function_name: '', timestamp: '', additional_info: '{}', info_message: '',
    });
    expect(Object.keys(item).sort()).toEqual(['additional_info', 'collection_id', 'collection_name', 'doc_id', 'file_id', 'file_name', 'function_name', 'info_message', 'job_id', 'message', 'read', 'status', 'timestamp', 'url']);
  });

  it('derives message, url and info_message; ignores stored message/url/info_message', () => {
    const item = notificationItem('d2', { file_name: 'inv.pdf', status: 'error', job_id: 'j9', message: 'stored', url: '/x', info_message: 'stored', additional_info: '{"error_message":"boom","message":"m"}', read: false });
    expect(item).toMatchObject({ message: 'inv.pdf - error', url: '/edit_form/j9', info_message: 'boom', additional_info: '{"error_message":"boom","message":"m"}' });
    expect(infoMessage('{"message":"m"}')).toBe('m');
    expect(infoMessage('{"error_message":""}')).toBe('');
    expect(infoMessage('not json')).toBe('');
    expect(infoMessage('')).toBe('');
    expect(infoMessage({ error_message: 'e' })).toBe('e');
    expect(notificationItem('d3', { additional_info: { message: 'obj' } })).toMatchObject({ additional_info: '{"message":"obj"}', info_message: 'obj' });
  });

  it('timestamps: strings unchanged, Timestamp/Date as Python isoformat in UTC, anything else ""', () => {
    expect(itemTimestamp('2025-01-01 whatever')).toBe('2025-01-01 whatever');
    expect(itemTimestamp(Timestamp.fromMillis(Date.UTC(2025, 2, 4, 10, 11, 12, 345)))).toBe('2025-03-04T10:11:12.345000+00:00');
    expect(itemTimestamp(new Timestamp(1741083072, 123456789))).toBe('2025-03-04T10:11:12.123456+00:00');
    expect(itemTimestamp(new Date(Date.UTC(2025, 0, 1)))).toBe('2025-01-01T00:00:00+00:00');
    expect(itemTimestamp(1735689600)).toBe('');
    expect(itemTimestamp(null)).toBe('');
    expect(pythonIsoformat(new Date(Date.UTC(2025, 0, 1, 0, 0, 0, 7)))).toBe('2025-01-01T00:00:00.007000+00:00');
    expect(isoSecondsZ(new Date(Date.UTC(2025, 0, 1, 1, 2, 3, 456)))).toBe('2025-01-01T01:02:03Z');
  });

  it('direct messages: same item without read / info_message; non-objects skipped; company-filtered', () => {
    const m = messageItem('k', { read: true, info_message: 'x' });
    expect(m).not.toHaveProperty('read');
    expect(m).not.toHaveProperty('info_message');
    const node = { a: { collection_id: 'c1', timestamp: '2025-01-01' }, b: 'plain', c: { collection_id: 'c2', timestamp: '2025-01-02' }, d: null };
    expect(messageItemsFromNode(node, []).map((i) => i.doc_id)).toEqual(['c', 'a']);
    expect(messageItemsFromNode(node, ['c1']).map((i) => i.doc_id)).toEqual(['a']);
    expect(messageItemsFromNode('x', [])).toEqual([]);
  });

  it('filters by authorized companies (empty = all) and sorts by the timestamp string, descending', () => {
    expect(companyAllowed('c1', [])).toBe(true);
    expect(companyAllowed('c1', ['c2'])).toBe(false);
    const items = [
      { doc_id: 'b', timestamp: '' },
      { doc_id: 'a', timestamp: '2025-01-01T00:00:00+00:00' },
      { doc_id: 'c', timestamp: '2025-01-02T00:00:00+00:00' },
    ];
    expect(byTimestampDesc(items).map((i) => i.doc_id)).toEqual(['c', 'a', 'b']);
  });
});

describe('workflow diffs', () => {
  it('reports only changed, added and removed fields', () => {
    expect({ ...diffFields({ a: 1, b: { x: 1 }, c: 3 }, { a: 1, b: { x: 2 }, d: 4 }) }).toEqual({ b: { x: 2 }, d: 4, c: null });
    expect({ ...diffFields({ t: Timestamp.fromMillis(0) }, { t: Timestamp.fromMillis(0) }) }).toEqual({});
    expect(stepStatus({ APBookeeper_step_status: { s: 1 } })).toEqual({ s: 1 });
    expect(stepStatus({ APBookeeper_step_status: 'x' })).toEqual({});
    expect(stepStatus(undefined)).toEqual({});
  });
});
