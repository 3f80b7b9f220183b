import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, errorEnvelope } from '../shared/errors.js';

/**
 * The one place errors become the envelope (DESIGN habit 6). Fastify's own transport errors
 * (bad JSON, body too large, wrong content type) keep their status with a precise message;
 * anything unknown is INTERNAL with the detail only in the log.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError, req, reply) => {
    let e: AppError;
    if (error instanceof AppError) {
      e = error;
    } else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      e = new AppError('INVALID_REQUEST', 'request body is larger than RPC_BODY_LIMIT', undefined, 413);
    } else if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      e = new AppError('INVALID_REQUEST', 'content-type must be application/json', undefined, 415);
    } else if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      e = new AppError('INVALID_REQUEST', 'request body is empty; expected a JSON object', undefined, 400);
    } else if (error.code?.startsWith('FST_ERR_CTP') || (error as { statusCode?: number }).statusCode === 400 || error instanceof SyntaxError) {
      e = new AppError('INVALID_REQUEST', `malformed JSON body: ${error.message.slice(0, 200)}`, undefined, 400);
    } else {
      req.log.error({ err: error }, 'unhandled error');
      e = new AppError('INTERNAL', 'internal error; see the service log with this request id', { request_id: req.id }, 500);
    }
    if (e.httpStatus >= 500 && e.code !== 'INTERNAL') req.log.warn({ code: e.code, error_message: e.message }, 'dependency unavailable');
    void reply.code(e.httpStatus).type('application/json').send(errorEnvelope(e));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorEnvelope(new AppError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]?.slice(0, 200)}`, undefined, 404)));
  });
}
