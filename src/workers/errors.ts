import { AppError, type TaskErrorCode } from '../shared/errors.js';

/**
 * Task failures: processors throw TaskError (an AppError with a task code, src/shared/errors.ts)
 * and whether a retry can help;
 * the runner turns non-retryable ones into BullMQ's UnrecoverableError and reports `{code, message}`
 * in the task's `failed` event and registry document.
 */
export class TaskError extends AppError {
  constructor(code: TaskErrorCode, message: string, retryable: boolean, details?: Record<string, unknown>) {
    super(code, message, details, 200, retryable);
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
