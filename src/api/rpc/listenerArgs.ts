import { z } from 'zod';
import { reservedKeyIn } from '../../shared/safeKeys.js';
import { id, optionalId } from './types.js';

/**
 * Shared argument shape of the REGISTRY listener bookkeeping methods (CONTRACT §4, §13.3). A
 * listener_type that is a well-formed word but not chat|notif|msg|workflow, and a chat listener
 * without space_code/thread_key, are domain refusals answered by the service as the original did
 * (`{success:false, error:…}` with ok:true); a wrongly typed argument is INVALID_ARGS.
 */
export const listenerArgs = {
  user_id: id('user_id'),
  listener_type: z
    .string({ error: (i) => (i.input === undefined ? 'listener_type is required' : 'listener_type must be a string') })
    .min(1, 'listener_type must not be empty')
    .max(32, 'listener_type must be at most 32 characters')
    .regex(/^[A-Za-z0-9_]+$/, 'listener_type may contain only letters, digits and _')
    // A reserved name is refused as an argument error, never answered as a domain refusal.
    .refine((v) => reservedKeyIn(v) === undefined, { error: (i) => `listener_type must not be the reserved name "${reservedKeyIn(String(i.input))}"` }),
  space_code: optionalId('space_code'),
  thread_key: optionalId('thread_key'),
};
