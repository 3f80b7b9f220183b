import { invalidArgs } from '../../shared/errors.js';
import { z } from 'zod';
import { id, optionalId } from './types.js';

/** Shared argument shape of the REGISTRY listener bookkeeping methods (CONTRACT §4). */
export const listenerArgs = {
  user_id: id('user_id'),
  listener_type: z.enum(['chat', 'notif', 'msg', 'workflow'], { error: 'listener_type must be one of chat, notif, msg, workflow' }),
  space_code: optionalId('space_code'),
  thread_key: optionalId('thread_key'),
};


/** Chat listeners are per thread: they need both space_code and thread_key. */
export function requireChatScope<T extends { listener_type: string; space_code: string | null; thread_key: string | null }>(a: T): T {
  if (a.listener_type === 'chat' && (a.space_code === null || a.thread_key === null)) throw invalidArgs('space_code, thread_key: chat listeners need both');
  return a;
}
