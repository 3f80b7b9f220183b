import { describe, expect, it } from 'vitest';
import { AppError, toErrorBody, unavailable } from '../../../src/shared/errors.js';
import { invalidInput, TaskError, toTaskError } from '../../../src/workers/errors.js';

describe('one error vocabulary (src/shared/errors.ts, src/workers/errors.ts)', () => {
  it('AppError is retryable exactly for the retryable codes unless told otherwise', () => {
    expect(unavailable('down').retryable).toBe(true);
    expect(new AppError('INVALID_ARGS', 'bad').retryable).toBe(false);
    expect(new AppError('INTERNAL', 'x').retryable).toBe(true);
  });

  it('TaskError is an AppError with its own retryable flag, rendered by the same toErrorBody', () => {
    const e = new TaskError('LLM_UNAVAILABLE', 'unreachable', true, { status: 502 });
    expect(e).toBeInstanceOf(AppError);
    expect(e.name).toBe('TaskError');
    expect(e.retryable).toBe(true);
    expect(e.httpStatus).toBe(200);
    expect(toErrorBody(e)).toEqual({ code: 'LLM_UNAVAILABLE', message: 'unreachable', details: { status: 502 } });
    expect(toErrorBody(invalidInput('no text'))).toEqual({ code: 'INVALID_INPUT', message: 'no text' });
    expect(invalidInput('no text').retryable).toBe(false);
  });

  it('toTaskError: unknown errors are retryable INTERNAL, UnrecoverableError is final', () => {
    expect(toTaskError(new Error('boom'))).toMatchObject({ code: 'INTERNAL', retryable: true });
    const unrecoverable = Object.assign(new Error('stop'), { name: 'UnrecoverableError' });
    expect(toTaskError(unrecoverable)).toMatchObject({ code: 'INTERNAL', retryable: false });
  });
});
