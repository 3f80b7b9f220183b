import { createRequire } from 'node:module';
import type { Logger } from '../shared/logger.js';
import type { RedisClient } from '../shared/redis.js';

// notepack.io (the adapter's own MessagePack codec) ships no types; only `decode` is used here.
const notepack = createRequire(import.meta.url)('notepack.io') as { decode(b: Buffer): unknown };

/** The subscriber events the socket.io Redis adapters listen to, and what their payload must look like. */
const GUARDED_EVENTS = new Set(['messageBuffer', 'pmessageBuffer', 'smessageBuffer']);
/** Publish commands whose promise the adapters never await or catch. */
const PUBLISH_COMMANDS = new Set(['publish', 'spublish']);
/** Subscribe commands the adapters fire and forget. */
const SUBSCRIBE_COMMANDS = new Set(['subscribe', 'psubscribe', 'ssubscribe']);
const UNSUBSCRIBE_COMMANDS = new Set(['unsubscribe', 'punsubscribe', 'sunsubscribe']);

export interface AdapterGuardOptions {
  logger: Logger;
  /** A message on an adapter channel that is not an adapter message (or made the adapter throw). */
  onInvalid: (reason: string) => void;
  /** A publish or (un)subscribe issued by the adapter failed. */
  onCommandError?: (command: string) => void;
  /** First retry delay of a failed subscribe (doubles up to 5 s). */
  resubscribeBaseMs?: number;
}

export interface GuardedClient {
  /** What to hand to the adapter instead of the client. */
  readonly client: RedisClient;
  /** Stops pending resubscribe retries. */
  close(): void;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function decode(msg: Buffer, jsonWhenBrace: boolean): unknown {
  if (jsonWhenBrace && msg[0] === 0x7b) return JSON.parse(msg.toString('utf8')) as unknown;
  return notepack.decode(msg);
}

/**
 * Checks a message the way the adapter is about to read it, without running it. Returns why it
 * is not an adapter message, or undefined when it is.
 * - `pmessageBuffer`: classic adapter broadcast, MessagePack `[uid, packet, opts]`.
 * - `messageBuffer`: classic adapter request/response, JSON or MessagePack object.
 * - `smessageBuffer`: sharded adapter message or response, JSON or MessagePack `{ type, ... }`.
 */
export function adapterMessageProblem(event: string, msg: unknown): string | undefined {
  if (!Buffer.isBuffer(msg)) return 'payload is not a buffer';
  let value: unknown;
  try {
    value = decode(msg, event !== 'pmessageBuffer');
  } catch (err) {
    return `undecodable: ${(err as Error).message.slice(0, 100)}`;
  }
  if (event === 'pmessageBuffer') {
    if (!Array.isArray(value) || value.length < 3) return 'broadcast is not [uid, packet, opts]';
    const [uid, packet, opts] = value as unknown[];
    if (typeof uid !== 'string' || !isObject(packet) || !isObject(opts)) return 'broadcast is not [uid, packet, opts]';
    if (!Array.isArray(opts.rooms) || !Array.isArray(opts.except)) return 'broadcast options lack rooms/except';
    return undefined;
  }
  if (!isObject(value)) return 'not an object';
  if (event === 'smessageBuffer') {
    if (typeof value.type !== 'number') return 'no numeric type';
    if (value.data !== undefined && !isObject(value.data)) return 'data is not an object';
  }
  return undefined;
}

/**
 * Wraps one Redis client for the socket.io Redis adapter (classic or sharded) so that nothing
 * arriving on, or sent to, the adapter's channels can take the process down:
 * - garbage on its channels (anyone with Redis access can PUBLISH/SPUBLISH there) is logged with its
 *   size and a short reason, counted, and never reaches the adapter; a message that still makes the
 *   adapter throw (or reject) is caught the same way;
 * - its fire-and-forget publish and (un)subscribe calls cannot become unhandled rejections; a failed
 *   subscribe is retried with backoff (the adapter would otherwise stay deaf to other nodes).
 * Everything else is the client itself (a Proxy, so ioredis's own checks — `isCluster`, `nodes()` —
 * still see it).
 */
export function guardAdapterClient(client: RedisClient, o: AdapterGuardOptions): GuardedClient {
  const g: GuardState = { client, target: client as unknown as Record<string | symbol, unknown>, o, wrapped: new Map(), timers: new Set(), closed: false, baseMs: o.resubscribeBaseMs ?? 200 };
  const proxy: Record<string | symbol, unknown> = new Proxy(g.target, {
    get: (t, prop) => guardedMember(g, proxy, t, prop),
    set(t, prop, value) {
      return Reflect.set(t, prop, value, t);
    },
  });
  return {
    client: proxy as unknown as RedisClient,
    close() {
      g.closed = true;
      for (const t of g.timers) clearTimeout(t);
      g.timers.clear();
    },
  };
}

/** One guarded client's state: its listeners' wrappers (so `off` finds them) and pending resubscribe timers. */
interface GuardState {
  client: RedisClient;
  target: Record<string | symbol, unknown>;
  o: AdapterGuardOptions;
  wrapped: Map<(...args: unknown[]) => unknown, (...args: unknown[]) => void>;
  timers: Set<NodeJS.Timeout>;
  closed: boolean;
  baseMs: number;
}

type Listener = (...args: unknown[]) => unknown;

/** What the proxy answers for `prop`: guarded (un)listen, publish and (un)subscribe; anything else is the client's own member. */
function guardedMember(g: GuardState, proxy: unknown, t: Record<string | symbol, unknown>, prop: string | symbol): unknown {
  const { client } = g;
  if (prop === 'on' || prop === 'addListener') {
    return (event: string, listener: Listener) => {
      (t[prop] as (e: string, l: unknown) => unknown).call(client, event, GUARDED_EVENTS.has(event) ? guardListener(g, event, listener) : listener);
      return proxy;
    };
  }
  if (prop === 'off' || prop === 'removeListener') {
    return (event: string, listener: Listener) => {
      const w = g.wrapped.get(listener);
      if (w) g.wrapped.delete(listener);
      (t[prop] as (e: string, l: unknown) => unknown).call(client, event, w ?? listener);
      return proxy;
    };
  }
  if (typeof prop === 'string' && PUBLISH_COMMANDS.has(prop)) return (...args: unknown[]) => safeCommand(g, prop, args, 0);
  if (typeof prop === 'string' && SUBSCRIBE_COMMANDS.has(prop)) return (...args: unknown[]) => subscribeWithRetry(g, prop, args, 0);
  if (typeof prop === 'string' && UNSUBSCRIBE_COMMANDS.has(prop)) return (...args: unknown[]) => safeCommand(g, prop, args, undefined);
  const v = Reflect.get(t, prop, t);
  // Keep `constructor` unbound: the adapter recognises an ioredis Cluster by its name.
  return typeof v === 'function' && prop !== 'constructor' ? (v as (...a: unknown[]) => unknown).bind(client) : v;
}

function invalidMessage(o: AdapterGuardOptions, event: string, channel: unknown, bytes: number, reason: string): void {
  o.onInvalid(reason);
  o.logger.warn({ event, channel: String(channel).slice(0, 200), bytes, reason }, 'realtime: ignoring an invalid message on a socket.io adapter channel');
}

/** The adapter's listener behind a check of each message; what it throws or rejects is logged, not raised. */
function guardListener(g: GuardState, event: string, listener: Listener): (...args: unknown[]) => void {
  const wrapper = (...args: unknown[]) => {
    // (channel, message) for message/smessage, (pattern, channel, message) for pmessage; ioredis
    // Cluster re-emits smessageBuffer with a third, undefined argument.
    const at = event === 'pmessageBuffer' ? 1 : 0;
    const channel = args[at];
    const msg = args[at + 1];
    const bytes = Buffer.isBuffer(msg) ? msg.length : String(msg).length;
    const problem = adapterMessageProblem(event, msg);
    if (problem) return invalidMessage(g.o, event, channel, bytes, problem);
    try {
      const r = listener(...args);
      if (r instanceof Promise) r.catch((err: unknown) => invalidMessage(g.o, event, channel, bytes, `adapter rejected: ${(err as Error)?.message ?? String(err)}`.slice(0, 200)));
    } catch (err) {
      invalidMessage(g.o, event, channel, bytes, `adapter threw: ${(err as Error)?.message ?? String(err)}`.slice(0, 200));
    }
  };
  g.wrapped.set(listener, wrapper);
  return wrapper;
}

function commandFailed(o: AdapterGuardOptions, command: string, err: unknown): void {
  o.onCommandError?.(command);
  o.logger.warn({ command, err: (err as Error)?.message ?? String(err) }, 'realtime: socket.io adapter Redis command failed');
}

function callClient(g: GuardState, name: string, args: unknown[]): Promise<unknown> {
  return (g.target[name] as (...a: unknown[]) => Promise<unknown>).apply(g.client, args);
}

/** A publish or unsubscribe whose failure (thrown or rejected) is logged and answered with `fallback`. */
function safeCommand(g: GuardState, name: string, args: unknown[], fallback: unknown): Promise<unknown> {
  try {
    return callClient(g, name, args).catch((err: unknown) => {
      commandFailed(g.o, name, err);
      return fallback;
    });
  } catch (err) {
    commandFailed(g.o, name, err);
    return Promise.resolve(fallback);
  }
}

/** A subscribe that, when it fails, is retried with backoff (up to 5 s apart) until the guard closes. */
function subscribeWithRetry(g: GuardState, name: string, args: unknown[], attempt: number): Promise<unknown> {
  let p: Promise<unknown>;
  try {
    p = callClient(g, name, args);
  } catch (err) {
    p = Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  return p.catch((err: unknown) => {
    commandFailed(g.o, name, err);
    if (!g.closed) {
      const t = setTimeout(() => {
        g.timers.delete(t);
        if (!g.closed) void subscribeWithRetry(g, name, args, attempt + 1);
      }, Math.min(g.baseMs * 2 ** Math.min(attempt, 5), 5000));
      t.unref?.();
      g.timers.add(t);
    }
    return undefined;
  });
}
