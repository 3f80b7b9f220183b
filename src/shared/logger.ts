import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * JSON logs (pino). Secrets are redacted by path wherever they could appear; callers must still
 * never put a secret in a message string.
 */
export function createLogger(opts: { level: string; name?: string; base?: Record<string, unknown>; destination?: pino.DestinationStream }): Logger {
  const options: LoggerOptions = {
    level: opts.level,
    name: opts.name ?? 'pinnokio',
    base: { pid: process.pid, ...opts.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'authorization',
        'password',
        '*.password',
        'token',
        '*.token',
        'service_token',
        '*.service_token',
        'apiKey',
        '*.apiKey',
        'serviceToken',
        '*.serviceToken',
      ],
      censor: '[redacted]',
    },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A silent logger for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
