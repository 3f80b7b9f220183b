import { hostname } from 'node:os';
import {
  QUEUE_NAMES,
  ROLES,
  type Config,
  type QueueName,
  type RedisSettings,
  type Role,
} from './schema.js';
import type { SecretSource } from './secrets.js';
import { DEFAULT_REPLY_PREFIXES, replyPrefixProblems } from '../shared/replyTo.js';
import { parseCidr } from '../shared/cidr.js';

/** Widest range the /ws migration bridge accepts in production (IPv4 and IPv6 alike). */
export const MAX_TRUSTED_PREFIX_WIDTH = 8;

/** CIDR lists (WS_TRUSTED_NETWORKS, TRUSTED_PROXIES): every entry valid; in production none wider than a /8. */
function cidrList(r: { list(name: string, fallback: readonly string[]): string[]; problems: string[] }, name: string, production: boolean): string[] {
  const items = r.list(name, []);
  for (const item of items) {
    const c = parseCidr(item);
    if (typeof c === 'string') r.problems.push(`${name}: ${c}`);
    else if (production && c.prefix < MAX_TRUSTED_PREFIX_WIDTH)
      r.problems.push(
        `${name}: "${item}" is wider than a /${MAX_TRUSTED_PREFIX_WIDTH}; in production a range this wide would let most of the ${c.family === 'ipv4' ? 'IPv4' : 'IPv6'} space authenticate /ws connections with a bare ?uid= (name the VPC subnets of the Reflex backend instead)`,
      );
  }
  return items;
}

export type Env = Readonly<Record<string, string | undefined>>;

export type LoadResult = { ok: true; config: Config } | { ok: false; problems: string[] };

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** Reads typed values out of a flat string map, collecting every problem instead of stopping. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  str(name: string, fallback: string): string;
  str(name: string): string | undefined;
  str(name: string, fallback?: string): string | undefined {
    return this.raw(name) ?? fallback;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const lower = v.toLowerCase();
    if (TRUE.has(lower)) return true;
    if (FALSE.has(lower)) return false;
    this.problems.push(`${name}: "${v}" is not a boolean (use true/false/1/0/yes/no/on/off)`);
    return fallback;
  }

  int(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!/^-?\d+$/.test(v)) {
      this.problems.push(`${name}: "${v}" is not an integer`);
      return fallback;
    }
    const n = Number(v);
    if (n < min || n > max) {
      this.problems.push(`${name}: ${n} is out of range [${min}, ${max}]`);
      return fallback;
    }
    return n;
  }

  list(name: string, fallback: readonly string[]): string[] {
    const v = this.raw(name);
    if (v === undefined) return [...fallback];
    return v.split(',').map((s) => s.trim()).filter(Boolean);
  }
}

/** Parses a JSON secret; a problem is recorded (without the value) when it is not an object. */
function parseJsonSecret(name: string, text: string | undefined, problems: string[]): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    problems.push(`${name}: secret is not a JSON object`);
  } catch {
    problems.push(`${name}: secret is not valid JSON`);
  }
  return undefined;
}

/** Secret JSON values override env: a secret field becomes the env variable it stands for. */
/** A secret's field as an environment value: scalars as text, anything else as its JSON (never "[object Object]"). */
function scalarText(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : JSON.stringify(v);
}

function overlay(env: Record<string, string | undefined>, fields: Record<string, unknown> | undefined, map: Record<string, string>): void {
  if (!fields) return;
  for (const [field, envName] of Object.entries(map)) {
    const v = fields[field];
    if (v === undefined || v === null) continue;
    env[envName] = Array.isArray(v) ? v.join(',') : scalarText(v);
  }
}

async function fetchSecret(secrets: SecretSource | undefined, name: string | undefined, problems: string[]): Promise<string | undefined> {
  if (!secrets || !name) return undefined;
  try {
    return await secrets.get(name);
  } catch (err) {
    problems.push(`secret ${name}: could not be read (${(err as Error).message})`);
    return undefined;
  }
}

function readRedis(r: Reader, prefix: 'LISTENERS_REDIS' | 'QUEUE_REDIS', base?: RedisSettings): RedisSettings {
  const settings: RedisSettings = {
    host: r.str(`${prefix}_HOST`) ?? base?.host ?? '127.0.0.1',
    port: r.int(`${prefix}_PORT`, base?.port ?? 6379, 1, 65535),
    password: r.str(`${prefix}_PASSWORD`) ?? base?.password,
    tls: r.raw(`${prefix}_TLS`) !== undefined ? r.bool(`${prefix}_TLS`, false) : base?.tls ?? false,
    tlsVerify: r.raw(`${prefix}_TLS_VERIFY`) !== undefined ? r.bool(`${prefix}_TLS_VERIFY`, true) : base?.tlsVerify ?? true,
    db: r.int(`${prefix}_DB`, base?.db ?? 0, 0, 15),
    cluster: r.raw(`${prefix}_CLUSTER`) !== undefined ? r.bool(`${prefix}_CLUSTER`, false) : base?.cluster ?? false,
  };
  // The original built "redis://:None@…/1": a literal "None" password and DB 1 on a cluster.
  if (settings.password !== undefined && ['none', 'null', 'undefined'].includes(settings.password.toLowerCase())) {
    r.problems.push(`${prefix}_PASSWORD: the literal "${settings.password}" is not a password; leave it unset`);
  }
  if (settings.cluster && settings.db !== 0) {
    r.problems.push(`${prefix}_DB: Redis Cluster has only DB 0 (got ${settings.db})`);
  }
  return settings;
}

/** Secret Manager values overlaid on the environment (the names of the secrets are settings themselves). */
async function overlaySecrets(env: Record<string, string | undefined>, secrets: SecretSource, problems: string[]): Promise<void> {
  const redisSecret = parseJsonSecret('REDIS_SECRET_NAME', await fetchSecret(secrets, env.REDIS_SECRET_NAME, problems), problems);
  overlay(env, redisSecret, {
    host: 'LISTENERS_REDIS_HOST', port: 'LISTENERS_REDIS_PORT', password: 'LISTENERS_REDIS_PASSWORD',
    tls: 'LISTENERS_REDIS_TLS', tls_verify: 'LISTENERS_REDIS_TLS_VERIFY', db: 'LISTENERS_REDIS_DB',
    cluster: 'LISTENERS_REDIS_CLUSTER', channel_prefix: 'LISTENERS_CHANNEL_PREFIX',
  });
  const fb = await fetchSecret(secrets, env.FIREBASE_ADMIN_SECRET_NAME, problems);
  if (fb !== undefined) env.FIREBASE_ADMIN_JSON = fb;
  const svc = parseJsonSecret('SERVICE_CONFIG_SECRET_NAME', await fetchSecret(secrets, env.SERVICE_CONFIG_SECRET_NAME, problems), problems);
  overlay(env, svc, { allowed_origins: 'ALLOWED_ORIGINS', alb_ws_path: 'ALB_WS_URL', heartbeat_ttl_seconds: 'LISTENERS_TTL_SECONDS' });
  const llm = await fetchSecret(secrets, env.LLM_SECRET_NAME, problems);
  if (llm !== undefined) {
    const asJson = llm.trim().startsWith('{') ? parseJsonSecret('LLM_SECRET_NAME', llm, problems) : undefined;
    env.LLM_API_KEY = asJson ? scalarText(asJson.api_key ?? '') : llm.trim();
  }
}

/** The settings that are checked against each other before the configuration is assembled. */
function readChecked(r: Reader) {
  const nodeEnv = r.str('NODE_ENV', 'development');
  const production = nodeEnv === 'production';
  const roleRaw = r.str('CONTAINER_TYPE', 'all').toLowerCase();
  if (!(ROLES as readonly string[]).includes(roleRaw)) r.problems.push(`CONTAINER_TYPE: "${roleRaw}" is not one of ${ROLES.join(', ')}`);
  const role = ((ROLES as readonly string[]).includes(roleRaw) ? roleRaw : 'all') as Role;

  let redis = readRedis(r, 'LISTENERS_REDIS');
  if (r.bool('USE_LOCAL_REDIS', false)) {
    if (production) r.problems.push('USE_LOCAL_REDIS: not allowed when NODE_ENV=production');
    redis = { host: '127.0.0.1', port: 6379, password: undefined, tls: false, tlsVerify: true, db: redis.db, cluster: false };
  }
  const queueRedis = readRedis(r, 'QUEUE_REDIS', redis);

  const queues = r.list('WORKER_QUEUES', QUEUE_NAMES);
  for (const q of queues) if (!(QUEUE_NAMES as readonly string[]).includes(q)) r.problems.push(`WORKER_QUEUES: unknown queue "${q}" (known: ${QUEUE_NAMES.join(', ')})`);

  let serviceAccount: Record<string, unknown> | undefined;
  if (r.raw('FIREBASE_ADMIN_JSON') !== undefined) serviceAccount = parseJsonSecret('FIREBASE_ADMIN_JSON', r.raw('FIREBASE_ADMIN_JSON'), r.problems);

  const serviceToken = r.str('LISTENERS_SERVICE_TOKEN');
  if (production && !serviceToken) r.problems.push('LISTENERS_SERVICE_TOKEN: required when NODE_ENV=production');
  if (serviceToken !== undefined && serviceToken.length < 16 && production) r.problems.push('LISTENERS_SERVICE_TOKEN: must be at least 16 characters in production');

  const unleashUrl = r.str('UNLEASH_URL');
  if (unleashUrl !== undefined && !/^https?:\/\//.test(unleashUrl)) r.problems.push(`UNLEASH_URL: "${unleashUrl}" is not an http(s) URL`);
  const llmBase = r.str('LLM_BASE_URL');
  if (llmBase !== undefined && !/^https?:\/\//.test(llmBase)) r.problems.push(`LLM_BASE_URL: "${llmBase}" is not an http(s) URL`);

  const channelPrefix = r.str('LISTENERS_CHANNEL_PREFIX', 'user:');
  const queuePrefixRaw = r.str('QUEUE_PREFIX', 'bull');
  const chatChannelPrefix = r.str('LISTENERS_CHAT_CHANNEL_PREFIX', 'chat:');
  const replyPrefixes = r.list('RPC_REPLY_PREFIXES', DEFAULT_REPLY_PREFIXES);
  r.problems.push(...replyPrefixProblems(replyPrefixes, [channelPrefix, chatChannelPrefix, queuePrefixRaw]));
  return { nodeEnv, production, role, redis, queueRedis, queues, serviceAccount, serviceToken, unleashUrl, llmBase, channelPrefix, queuePrefixRaw, chatChannelPrefix, replyPrefixes };
}

// One object literal lists every remaining setting in the shape of `Config` (src/config/schema.ts);
// cutting it into pieces would only scatter that shape, so it is longer than the usual ~50 lines.
// eslint-disable-next-line max-lines-per-function -- a declarative list of settings, see above
function assembleConfig(r: Reader, c: ReturnType<typeof readChecked>, defaults: { version?: string }): Config {
  const { nodeEnv, production, role, redis, queueRedis, queues, serviceAccount, serviceToken, unleashUrl, llmBase, channelPrefix, queuePrefixRaw, chatChannelPrefix, replyPrefixes } = c;
  return {
    nodeEnv,
    production,
    role,
    port: r.int('PORT', 8090, 0, 65535),
    host: r.str('HOST', '0.0.0.0'),
    shutdownGraceMs: r.int('SHUTDOWN_GRACE_MS', 25000, 1000, 600000),
    consoleStatusIntervalMs: r.int('CONSOLE_STATUS_INTERVAL_MS', 5000, 200, 600000),
    logLevel: r.str('LOG_LEVEL', 'info'),
    serviceVersion: r.str('SERVICE_VERSION', defaults.version ?? '0.0.0'),
    instanceId: r.str('INSTANCE_ID', `${hostname()}-${process.pid}`),
    awsRegion: r.str('AWS_REGION_NAME'),
    google: {
      projectId: r.str('GOOGLE_PROJECT_ID'),
      serviceAccountSecret: r.str('GOOGLE_SERVICE_ACCOUNT_SECRET'),
      awsSecretName: r.str('AWS_SECRET_NAME'),
    },
    redis,
    queueRedis,
    channelPrefix,
    chatChannelPrefix,
    queuePrefix: queuePrefixRaw.startsWith('{') ? queuePrefixRaw : `{${queuePrefixRaw}}`,
    firebase: {
      serviceAccount,
      projectId: r.str('FIREBASE_PROJECT_ID') ?? (serviceAccount?.project_id as string | undefined) ?? r.str('GOOGLE_PROJECT_ID'),
      databaseUrl: r.str('FIREBASE_DATABASE_URL'),
      firestoreEmulatorHost: r.str('FIRESTORE_EMULATOR_HOST'),
      authEmulatorHost: r.str('FIREBASE_AUTH_EMULATOR_HOST'),
      databaseEmulatorHost: r.str('FIREBASE_DATABASE_EMULATOR_HOST'),
      checkRevoked: r.bool('FIREBASE_CHECK_REVOKED', false),
    },
    allowedOrigins: r.list('ALLOWED_ORIGINS', []),
    albWsUrl: r.str('ALB_WS_URL'),
    listenersTtlSeconds: r.int('LISTENERS_TTL_SECONDS', 90, 1, 86400),
    heartbeatIntervalSeconds: r.int('LISTENERS_HEARTBEAT_INTERVAL', 45, 1, 86400),
    serviceToken,
    rpc: {
      apiVersion: r.str('RPC_API_VERSION', 'v1'),
      idempTtlSeconds: r.int('RPC_IDEMP_TTL', 900, 1, 7 * 86400),
      idempDisable: r.bool('RPC_IDEMP_DISABLE', false),
      idempDisableMethods: r.list('RPC_IDEMP_DISABLE_METHODS', []),
      bodyLimitBytes: r.int('RPC_BODY_LIMIT', 1024 * 1024, 1024, 100 * 1024 * 1024),
      defaultTimeoutMs: r.int('RPC_DEFAULT_TIMEOUT_MS', 15000, 1, 600000),
      replyPrefixes,
    },
    unifiedRegistryEnabled: r.bool('UNIFIED_REGISTRY_ENABLED', false),
    registryDebug: r.bool('REGISTRY_DEBUG', false),
    unleash: unleashUrl
      ? { url: unleashUrl, apiToken: r.str('UNLEASH_API_TOKEN'), appName: r.str('UNLEASH_APP_NAME', 'pinnokio-realtime') }
      : undefined,
    listenersEnabled: r.bool('LISTENERS_ENABLED', true),
    workflowListenerEnabled: r.bool('WORKFLOW_LISTENER_ENABLED', true),
    workerQueues: queues.filter((q): q is QueueName => (QUEUE_NAMES as readonly string[]).includes(q)),
    workerConcurrency: r.int('WORKER_CONCURRENCY', 4, 1, 256),
    llm: {
      baseUrl: llmBase,
      apiKey: r.str('LLM_API_KEY'),
      model: r.str('LLM_MODEL', 'gpt-4o-mini'),
      timeoutMs: r.int('LLM_TIMEOUT_MS', 60000, 100, 600000),
    },
    redisDeltas: r.bool('LISTENERS_REDIS_DELTAS', false),
    wsTrustedNetworks: cidrList(r, 'WS_TRUSTED_NETWORKS', production),
    trustedProxies: cidrList(r, 'TRUSTED_PROXIES', production),
    eventHistory: {
      maxLen: r.int('EVENT_HISTORY_MAXLEN', 200, 0, 100000),
      maxAgeSeconds: r.int('EVENT_HISTORY_MAX_AGE_SECONDS', 600, 1, 86400),
    },
    realtimeSyncConcurrency: r.int('REALTIME_SYNC_CONCURRENCY', 32, 1, 1024),
  };
}

/**
 * Builds the frozen configuration from the environment and (when GOOGLE_PROJECT_ID and a secret
 * name are set) Google Secret Manager. Every problem is collected; nothing throws. Steps: overlay
 * the secrets, read and cross-check the settings that depend on each other, assemble the rest.
 */
export async function loadConfig(inputEnv: Env, secrets?: SecretSource, defaults: { version?: string } = {}): Promise<LoadResult> {
  const problems: string[] = [];
  const env: Record<string, string | undefined> = { ...inputEnv };
  if (Boolean(env.GOOGLE_PROJECT_ID?.trim()) && secrets !== undefined) await overlaySecrets(env, secrets, problems);
  const r = new Reader(env);
  const config = assembleConfig(r, readChecked(r), defaults);
  const all = [...problems, ...r.problems];
  if (all.length > 0) return { ok: false, problems: all };
  return { ok: true, config: deepFreeze(config) };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** Redacts secrets for /debug and start-up logs: presence, never value. */
export function describeConfig(config: Config): Record<string, unknown> {
  const redisView = (s: RedisSettings) => ({ ...s, password: s.password ? '(set)' : '(unset)' });
  return {
    role: config.role,
    nodeEnv: config.nodeEnv,
    port: config.port,
    version: config.serviceVersion,
    instanceId: config.instanceId,
    redis: redisView(config.redis),
    queueRedis: redisView(config.queueRedis),
    channelPrefix: config.channelPrefix,
    chatChannelPrefix: config.chatChannelPrefix,
    firebase: {
      projectId: config.firebase.projectId,
      serviceAccount: config.firebase.serviceAccount ? '(set)' : '(unset)',
      firestoreEmulatorHost: config.firebase.firestoreEmulatorHost,
      authEmulatorHost: config.firebase.authEmulatorHost,
      databaseEmulatorHost: config.firebase.databaseEmulatorHost,
    },
    serviceToken: config.serviceToken ? '(set)' : '(unset)',
    unifiedRegistryEnabled: config.unifiedRegistryEnabled,
    unleash: config.unleash ? { url: config.unleash.url, appName: config.unleash.appName, apiToken: config.unleash.apiToken ? '(set)' : '(unset)' } : undefined,
    llm: { baseUrl: config.llm.baseUrl, apiKey: config.llm.apiKey ? '(set)' : '(unset)', model: config.llm.model },
    workerQueues: config.workerQueues,
    allowedOrigins: config.allowedOrigins,
    albWsUrl: config.albWsUrl,
    redisDeltas: config.redisDeltas,
    wsTrustedNetworks: config.wsTrustedNetworks,
    trustedProxies: config.trustedProxies,
  };
}
