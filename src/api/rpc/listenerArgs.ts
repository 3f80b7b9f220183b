import { z } from 'zod';
import { id, optionalId } from './types.js';

/** Shared argument shape of the REGISTRY listener bookkeeping methods (CONTRACT §4). */
export const listenerArgs = {
  user_id: id('user_id'),
  listener_type: z.enum(['chat', 'notif', 'msg', 'workflow'], { error: 'listener_type must be one of chat, notif, msg, workflow' }),
  space_code: optionalId('space_code'),
  thread_key: optionalId('thread_key'),
};

