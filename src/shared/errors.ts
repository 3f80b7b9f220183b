/**
 * The one error vocabulary (CONTRACT §3). Domain code throws these; the API renders them in one
 * place (api/errorHandler.ts), and a task's failure (`failed` event, registry document) is rendered
 * by the same `toErrorBody`. Anything else becomes INTERNAL with its detail only in the log.
 */

/** Codes an RPC answer carries (CONTRACT §3; the OpenAPI document lists these). */
export const ERROR_CODES = [
  'INVALID_API_VERSION',
  'INVALID_REQUEST',
  'INVALID_ARGS',
  'METHOD_NOT_FOUND',
  'TIMEOUT',
  'UNAVAILABLE',
  'CONFLICT',
  'NOT_FOUND',
  'INTERNAL',
  'UNAUTHORIZED',
  'FORBIDDEN',
] as const;

/** Codes a failed task carries in its `failed` event and registry document (CONTRACT §4 TASK.*, §6). */
export const TASK_ERROR_CODES = [
  'INVALID_INPUT',
  'LLM_NOT_CONFIGURED',
  'LLM_REJECTED',
  'LLM_UNAVAILABLE',
  'LLM_BAD_RESPONSE',
  'TIMEOUT',
  'CANCELLED',
  'DEPENDENCY_ERROR',
  'INTERNAL',
] as const;
export type TaskErrorCode = (typeof TASK_ERROR_CODES)[number];

/** The one code union: every code an AppError (and so a TaskError) may carry. */
export type ErrorCode = (typeof ERROR_CODES)[number] | TaskErrorCode;

/** Codes whose responses are not stored by idempotency: a retry must run again. */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set(['INTERNAL', 'TIMEOUT', 'UNAVAILABLE']);

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    /** HTTP status for transport-level errors; application errors answer 200 with ok:false. */
    readonly httpStatus = 200,
    /** Whether trying again can help (an RPC retry, a task's next attempt). */
    readonly retryable: boolean = RETRYABLE_CODES.has(code),
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const invalidArgs = (message: string, details?: Record<string, unknown>) => new AppError('INVALID_ARGS', message, details);
export const notFound = (message: string) => new AppError('NOT_FOUND', message);
export const conflict = (message: string) => new AppError('CONFLICT', message);
export const unavailable = (message: string, httpStatus = 503) => new AppError('UNAVAILABLE', message, undefined, httpStatus);

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * The response envelope (CONTRACT §3, §13.1): always all three of `ok`, `data`, `error`, with
 * `null` where not applicable, as the original's FastAPI model serialised it.
 */
export type ResponseEnvelope = { ok: true; data: unknown; error: null } | { ok: false; data: null; error: ErrorBody };

export function okEnvelope(data: unknown): ResponseEnvelope {
  return { ok: true, data: data === undefined ? null : data, error: null };
}

export function errorEnvelope(err: AppError): ResponseEnvelope {
  return { ok: false, data: null, error: toErrorBody(err) };
}

export function toErrorBody(err: AppError): ErrorBody {
  return err.details ? { code: err.code, message: err.message, details: err.details } : { code: err.code, message: err.message };
}

/** True for errors that mean "a dependency is down" (connection refused, closed, cluster down…). */
export function isDependencyError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
  if (typeof code === 'number' && [14 /* UNAVAILABLE */, 4 /* DEADLINE_EXCEEDED */].includes(code)) return true;
  return /Connection is closed|Stream isn't writeable|enableOfflineQueue|CLUSTERDOWN|MaxRetriesPerRequest|LOADING|Reached the max retries/i.test(err.message);
}
