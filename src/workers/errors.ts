/**
 * Task failure vocabulary. Processors throw TaskError with a code and whether a retry can help;
 * the runner turns non-retryable ones into BullMQ's UnrecoverableError and reports `{code, message}`
 * in the task's `failed` event and registry document.
 */
export type TaskErrorCode =
  | 'INVALID_INPUT'
  | 'LLM_NOT_CONFIGURED'
  | 'LLM_REJECTED'
  | 'LLM_UNAVAILABLE'
  | 'LLM_BAD_RESPONSE'
  | 'TIMEOUT'
  | 'CANCELLED'
  | 'DEPENDENCY_ERROR'
  | 'INTERNAL';

export class TaskError extends Error {
  constructor(
    readonly code: TaskErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'TaskError';
  }
}

export const invalidInput = (message: string) => new TaskError('INVALID_INPUT', message, false);
export const cancelled = (why = 'task was cancelled') => new TaskError('CANCELLED', why, false);
export const timedOut = (seconds: number) => new TaskError('TIMEOUT', `task exceeded its time limit of ${seconds} s (max_duration)`, false);

/** Any thrown value as a TaskError: unknown errors are retryable INTERNAL failures. */
export function toTaskError(err: unknown): TaskError {
  if (err instanceof TaskError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.name === 'UnrecoverableError') return new TaskError('INTERNAL', e.message, false);
  return new TaskError('INTERNAL', e.message, true);
}

export function errorBody(e: TaskError): Record<string, unknown> {
  return e.details ? { code: e.code, message: e.message, details: e.details } : { code: e.code, message: e.message };
}
