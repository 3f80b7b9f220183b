/**
 * The configuration model (CONTRACT §1-2): every setting the service reads, with its default,
 * typed and frozen. Parsing is done by `load.ts`; this module only declares shapes and vocabularies.
 */

export const ROLES = ['api', 'worker', 'beat', 'all'] as const;
export type Role = (typeof ROLES)[number];

export const QUEUE_NAMES = ['default', 'computation', 'llm', 'maintenance'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export interface RedisSettings {
  readonly host: string;
  readonly port: number;
  readonly password: string | undefined;
  readonly tls: boolean;
  readonly tlsVerify: boolean;
  readonly db: number;
  readonly cluster: boolean;
}

export interface FirebaseSettings {
  /** Parsed service-account JSON (GSM secret or FIREBASE_ADMIN_JSON); undefined = ADC or emulator. */
  readonly serviceAccount: Record<string, unknown> | undefined;
  readonly projectId: string | undefined;
  readonly databaseUrl: string | undefined;
  readonly firestoreEmulatorHost: string | undefined;
  readonly authEmulatorHost: string | undefined;
  readonly databaseEmulatorHost: string | undefined;
  /** Whether socket/ws token checks also ask Firebase whether the token was revoked. */
  readonly checkRevoked: boolean;
}

export interface RpcSettings {
  readonly apiVersion: string;
  readonly idempTtlSeconds: number;
  readonly idempDisable: boolean;
  readonly idempDisableMethods: readonly string[];
  readonly bodyLimitBytes: number;
  readonly defaultTimeoutMs: number;
  /** Allowed `reply_to` channel prefixes (case-sensitive); empty = reply_to refused. */
  readonly replyPrefixes: readonly string[];
}

export interface UnleashSettings {
  readonly url: string;
  readonly apiToken: string | undefined;
  readonly appName: string;
}

export interface LlmSettings {
  readonly baseUrl: string | undefined;
  readonly apiKey: string | undefined;
  readonly model: string;
  readonly timeoutMs: number;
}

export interface Config {
  readonly nodeEnv: string;
  readonly production: boolean;
  readonly role: Role;
  readonly port: number;
  readonly host: string;
  readonly shutdownGraceMs: number;
  /** How often this process writes its status record for the operator console (ms; the record lives 3 periods). */
  readonly consoleStatusIntervalMs: number;
  readonly logLevel: string;
  readonly serviceVersion: string;
  readonly instanceId: string;
  readonly awsRegion: string | undefined;
  readonly google: {
    readonly projectId: string | undefined;
    readonly serviceAccountSecret: string | undefined;
    readonly awsSecretName: string | undefined;
  };
  readonly redis: RedisSettings;
  readonly queueRedis: RedisSettings;
  readonly channelPrefix: string;
  readonly chatChannelPrefix: string;
  /** Prefix of every BullMQ key; wrapped in a hash tag so a queue's keys share one cluster slot. */
  readonly queuePrefix: string;
  readonly firebase: FirebaseSettings;
  readonly allowedOrigins: readonly string[];
  readonly albWsUrl: string | undefined;
  readonly listenersTtlSeconds: number;
  readonly heartbeatIntervalSeconds: number;
  readonly serviceToken: string | undefined;
  readonly rpc: RpcSettings;
  readonly unifiedRegistryEnabled: boolean;
  readonly registryDebug: boolean;
  readonly unleash: UnleashSettings | undefined;
  readonly listenersEnabled: boolean;
  readonly workflowListenerEnabled: boolean;
  readonly workerQueues: readonly QueueName[];
  readonly workerConcurrency: number;
  readonly llm: LlmSettings;
  /** LISTENERS_REDIS_DELTAS: notif.add/update/remove also on `{prefix}{uid}` (CONTRACT §13.5). */
  readonly redisDeltas: boolean;
  /** WS_TRUSTED_NETWORKS: CIDRs whose /ws clients may authenticate with `?uid=` alone (migration bridge, CONTRACT §13.6). */
  readonly wsTrustedNetworks: readonly string[];
  /** TRUSTED_PROXIES: CIDRs of proxies (the ALB) whose X-Forwarded-For is believed. */
  readonly trustedProxies: readonly string[];
  /** socket.io replay history per user: max events and max age. */
  readonly eventHistory: { readonly maxLen: number; readonly maxAgeSeconds: number };
  /** REALTIME_SYNC_CONCURRENCY: connect-time syncs (Firestore/RTDB reads) in flight per gateway node. */
  readonly realtimeSyncConcurrency: number;
}

/**
 * Every environment variable the service reads, with its default (undefined = none) and meaning.
 * The configuration table of docs/configuration.md and the deployment tests are checked against this list.
 */
export const ENV_VARS: Readonly<Record<string, { default?: string; doc: string; secret?: boolean }>> = {
  NODE_ENV: { default: 'development', doc: '`production` enforces the service token' },
  CONTAINER_TYPE: { default: 'all', doc: 'role: api | worker | beat | all' },
  PORT: { default: '8090', doc: 'HTTP port (api/all)' },
  HOST: { default: '0.0.0.0', doc: 'HTTP bind address' },
  SHUTDOWN_GRACE_MS: { default: '25000', doc: 'bound on the whole SIGTERM drain' },
  LOG_LEVEL: { default: 'info', doc: 'pino level' },
  SERVICE_VERSION: { default: 'package.json version', doc: 'reported by /version and /healthz' },
  INSTANCE_ID: { default: 'hostname-pid', doc: 'this process in leases and presence documents' },
  AWS_REGION_NAME: { doc: 'reported by /healthz' },
  GOOGLE_PROJECT_ID: { doc: 'enables Google Secret Manager' },
  METADATA_SERVER_DETECTION: { doc: 'read by the Google client libraries: `none` stops them probing for a GCE metadata server (set on AWS and locally)' },
  GOOGLE_APPLICATION_CREDENTIALS_JSON: { doc: 'service-account JSON that authenticates to Secret Manager (ECS: inject from AWS Secrets Manager); otherwise Application Default Credentials', secret: true },
  GOOGLE_SERVICE_ACCOUNT_SECRET: { doc: 'GSM secret holding a service-account key for GSM itself (optional)' },
  AWS_SECRET_NAME: { doc: 'GSM secret with AWS credentials (optional, unused by the service itself)' },
  REDIS_SECRET_NAME: { doc: 'GSM secret with the Redis settings, e.g. pinnokio/listeners/redis' },
  FIREBASE_ADMIN_SECRET_NAME: { doc: 'GSM secret with the Firebase service account' },
  SERVICE_CONFIG_SECRET_NAME: { doc: 'GSM secret with allowed_origins, alb_ws_path, heartbeat_ttl_seconds' },
  LLM_SECRET_NAME: { doc: 'GSM secret with the LLM API key (plain string or {"api_key"})' },
  LISTENERS_REDIS_HOST: { default: '127.0.0.1', doc: 'main Redis host' },
  LISTENERS_REDIS_PORT: { default: '6379', doc: 'main Redis port' },
  LISTENERS_REDIS_PASSWORD: { doc: 'main Redis password', secret: true },
  LISTENERS_REDIS_TLS: { default: 'false', doc: 'TLS to Redis' },
  LISTENERS_REDIS_TLS_VERIFY: { default: 'true', doc: 'verify the Redis certificate' },
  LISTENERS_REDIS_DB: { default: '0', doc: 'Redis DB (must be 0 in cluster mode)' },
  LISTENERS_REDIS_CLUSTER: { default: 'false', doc: 'Redis Cluster mode' },
  LISTENERS_CHANNEL_PREFIX: { default: 'user:', doc: 'per-user event channel prefix' },
  LISTENERS_CHAT_CHANNEL_PREFIX: { default: 'chat:', doc: 'chat channel prefix' },
  USE_LOCAL_REDIS: { default: 'false', doc: 'force 127.0.0.1:6379, no TLS, no password (local only)' },
  QUEUE_REDIS_HOST: { default: 'main Redis', doc: 'queue Redis host' },
  QUEUE_REDIS_PORT: { default: 'main Redis', doc: 'queue Redis port' },
  QUEUE_REDIS_PASSWORD: { default: 'main Redis', doc: 'queue Redis password', secret: true },
  QUEUE_REDIS_TLS: { default: 'main Redis', doc: 'queue Redis TLS' },
  QUEUE_REDIS_DB: { default: 'main Redis', doc: 'queue Redis DB' },
  QUEUE_REDIS_CLUSTER: { default: 'main Redis', doc: 'queue Redis cluster mode' },
  QUEUE_PREFIX: { default: 'bull', doc: 'BullMQ key prefix (hash-tagged automatically)' },
  FIREBASE_ADMIN_JSON: { doc: 'service-account JSON (fallback to the GSM secret)', secret: true },
  FIREBASE_PROJECT_ID: { doc: 'Firebase project id (default: from the service account or GOOGLE_PROJECT_ID)' },
  FIREBASE_DATABASE_URL: { doc: 'Realtime Database URL' },
  FIRESTORE_EMULATOR_HOST: { doc: 'use a Firestore emulator' },
  FIREBASE_AUTH_EMULATOR_HOST: { doc: 'use an Auth emulator' },
  FIREBASE_DATABASE_EMULATOR_HOST: { doc: 'use a Realtime Database emulator' },
  FIREBASE_CHECK_REVOKED: { default: 'false', doc: 'ID-token checks also ask whether the token was revoked' },
  ALLOWED_ORIGINS: { default: '(none: same-origin and non-browser clients only)', doc: 'comma-separated CORS origins for socket.io' },
  ALB_WS_URL: { doc: 'public WebSocket URL (reported by /debug)' },
  LISTENERS_TTL_SECONDS: { default: '90', doc: 'presence heartbeat TTL' },
  LISTENERS_HEARTBEAT_INTERVAL: { default: '45', doc: 'presence heartbeat period (s)' },
  LISTENERS_SERVICE_TOKEN: { doc: 'bearer token for /rpc, /debug, /admin and trusted sockets', secret: true },
  RPC_API_VERSION: { default: 'v1', doc: 'required api_version' },
  RPC_IDEMP_TTL: { default: '900', doc: 'idempotency record TTL (s)' },
  RPC_IDEMP_DISABLE: { default: 'false', doc: 'turn idempotency off' },
  RPC_IDEMP_DISABLE_METHODS: { default: '', doc: 'comma-separated methods without idempotency' },
  RPC_BODY_LIMIT: { default: '1048576', doc: 'max /rpc body (bytes)' },
  RPC_DEFAULT_TIMEOUT_MS: { default: '15000', doc: 'timeout_ms when the caller gives none' },
  RPC_REPLY_PREFIXES: { default: 'rpc:reply:,redis:reply:', doc: 'comma-separated channel prefixes a `reply_to` may use (case-sensitive; may not overlap the service\'s own channels)' },
  UNIFIED_REGISTRY_ENABLED: { default: 'false', doc: 'master switch of the unified registry (read per call)' },
  REGISTRY_DEBUG: { default: 'false', doc: 'debug logs for registry routing' },
  UNLEASH_URL: { doc: 'Unleash API URL; enables per-user rollout' },
  UNLEASH_API_TOKEN: { doc: 'Unleash client token', secret: true },
  UNLEASH_APP_NAME: { default: 'pinnokio-realtime', doc: 'Unleash app name' },
  LISTENERS_ENABLED: { default: 'true', doc: 'run Firestore listeners in api role' },
  WORKFLOW_LISTENER_ENABLED: { default: 'true', doc: 'allow workflow watchers' },
  WORKER_QUEUES: { default: 'default,computation,llm,maintenance', doc: 'queues this worker consumes' },
  WORKER_CONCURRENCY: { default: '4', doc: 'jobs in parallel per queue' },
  LLM_BASE_URL: { doc: 'OpenAI-compatible endpoint (…/v1)' },
  LLM_API_KEY: { doc: 'LLM API key (fallback to LLM_SECRET_NAME)', secret: true },
  LLM_MODEL: { default: 'gpt-4o-mini', doc: 'default model' },
  LLM_TIMEOUT_MS: { default: '60000', doc: 'LLM request timeout' },
  LISTENERS_REDIS_DELTAS: { default: 'false', doc: 'also publish notif.add/update/remove on `{prefix}{uid}` (by default only sockets get them: unchanged Python consumers treat every notif.* as a full sync)' },
  WS_TRUSTED_NETWORKS: { default: '(empty: off)', doc: 'migration bridge: comma-separated CIDRs whose /ws clients may connect with `?uid=` alone, as with the Python service; each such connection is logged and counted; production refuses a range wider than a /8 (IPv4 or IPv6). Turn it off once the Reflex side sends a token' },
  TRUSTED_PROXIES: { default: '(empty)', doc: 'comma-separated CIDRs of proxies (the ALB) whose X-Forwarded-For is believed when deciding a /ws client address (the right-most address not in this list)' },
  EVENT_HISTORY_MAXLEN: { default: '200', doc: 'replayable events kept per user' },
  EVENT_HISTORY_MAX_AGE_SECONDS: { default: '600', doc: 'age of replayable events' },
  REALTIME_SYNC_CONCURRENCY: { default: '32', doc: "connect-time syncs (the notif.sync / msg.sync reads from Firestore and the Realtime Database) in flight per gateway node; the others queue, their live events held meanwhile. A reconnect storm of N sockets gets its syncs in about N ÷ this × one read's latency: raise it when Firestore answers slowly, lower it when a storm's memory matters more (1–1024)" },
  CONSOLE_STATUS_INTERVAL_MS: { default: '5000', doc: 'how often each process writes its status record for the /admin console (the record expires after 3 periods)' },
};
