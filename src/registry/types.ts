/**
 * Registry documents (CONTRACT §4) and the store interface both registries implement. Domain code
 * only: no Fastify, no BullMQ, no Redis or Firestore types here.
 */
export type UserStatus = 'online' | 'offline';

export interface UserDocument {
  user_info: { user_id: string; session_id: string; backend_route: string; last_seen_at: string; status: UserStatus };
  companies: { current_company_id: string; authorized_companies_ids: string[]; company_roles: Record<string, string> };
  services: {
    chroma: { collections: unknown[]; last_heartbeat: string | null; [k: string]: unknown };
    llm: { active_conversations: unknown[]; model_preferences: Record<string, unknown>; [k: string]: unknown };
    tasks: { active_tasks: string[]; task_history: string[]; [k: string]: unknown };
    [service: string]: Record<string, unknown>;
  };
  heartbeat: { last_heartbeat: string; ttl_seconds: number };
}

export const TASK_STATUSES = ['queued', 'started', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
/** The one list of final statuses (the registry's update script, the terminal checks and the RPC results derive from it). */
export const TERMINAL_TASK_STATUSES = ['completed', 'failed', 'cancelled'] as const satisfies readonly TaskStatus[];
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(TERMINAL_TASK_STATUSES);

export interface TaskDocument {
  task_info: { task_id: string; task_type: string; user_id: string; company_id: string; created_at: string; status: string };
  isolation: { namespace: string; priority: string; max_duration: number };
  progress: { current_step: string | null; progress_percent: number; estimated_completion: string | null };
  resources: { worker_id: string | null; memory_usage: number | null; cpu_usage: number | null };
  /** Set by workers at the end: the task's result or error (absent while running). */
  result?: unknown;
  error?: unknown;
}

export interface RegisterUserResult {
  user_id: string;
  session_id: string;
  backend_route: string;
  last_seen_at: string;
}

export interface HeartbeatResult {
  user_id: string;
  status: 'online';
  heartbeat_at: string;
}

export interface RegisterSessionInput {
  userId: string;
  sessionId: string;
  companyId: string;
  authorizedCompanies: string[];
  backendRoute: string | null;
}

export interface RegisterTaskInput {
  taskId: string;
  taskType: string;
  userId: string;
  companyId: string;
  priority: string;
  maxDuration: number;
}

export interface TaskProgressInput {
  taskId: string;
  status: string;
  progressPercent?: number | null;
  currentStep?: string | null;
  workerId?: string | null;
  estimatedCompletion?: string | null;
  result?: unknown;
  error?: unknown;
}

/** What both registries (unified Redis and legacy Firestore) can do. */
export interface RegistryStore {
  readonly kind: 'unified' | 'legacy';
  registerUser(userId: string, sessionId: string, backendRoute: string | null): Promise<RegisterUserResult>;
  unregisterSession(sessionId: string): Promise<boolean>;
  heartbeat(userId: string, sessionId: string | null): Promise<HeartbeatResult>;
  registerUserSession(input: RegisterSessionInput): Promise<UserDocument>;
  updateUserHeartbeat(userId: string): Promise<boolean>;
  unregisterUserSession(sessionId: string): Promise<boolean>;
  updateUserService(userId: string, serviceName: string, data: Record<string, unknown>): Promise<boolean>;
  getUserRegistry(userId: string): Promise<UserDocument | null>;
  getCompanyActiveUsers(companyId: string): Promise<string[]>;
  /** Task lifecycle mirrored into the user's document (active tasks, history). */
  noteTask(userId: string, taskId: string, terminal: boolean): Promise<void>;
}

export type TaskUpdateOutcome = 'updated' | 'terminal' | 'missing';

/**
 * Task documents live in Redis in both registry modes: the queue itself is Redis, and a task id
 * must resolve the moment TASK.start_* answers. The flag routes the user/session registry only.
 */
export type AfterTaskUpdate = (r: { outcome: TaskUpdateOutcome; progress: number }) => Promise<void>;

export interface TaskRegistry {
  /** Creates (or restarts) a task document; CONFLICT when the id is held by another user's task. */
  registerTask(input: RegisterTaskInput): Promise<TaskDocument>;
  /**
   * 'terminal' when the task already ended: terminal states are final, so exactly one wins.
   * `then` runs as soon as the update answered, alongside the note a terminal update makes on the
   * user's document (its event need not wait for that note); the call resolves after both.
   */
  updateTaskProgress(input: TaskProgressInput, then?: AfterTaskUpdate): Promise<TaskUpdateOutcome>;
  /** updateTaskProgress, also answering the progress stored after the update (never below any earlier one). */
  updateTask(input: TaskProgressInput, then?: AfterTaskUpdate): Promise<{ outcome: TaskUpdateOutcome; progress: number }>;
  getTaskRegistry(taskId: string): Promise<TaskDocument | null>;
  listUserTasks(userId: string, limit?: number): Promise<TaskDocument[]>;
}

/** Presence in Firestore `listeners_registry/{uid}` (kept right in both modes; CONTRACT §5). */
export interface PresenceWriter {
  online(p: { userId: string; sessionId: string | null; backendRoute: string | null; authorizedCompanies?: string[]; lastSeenAt: string }): Promise<void>;
  heartbeat(userId: string): Promise<void>;
  offline(userId: string, sessionId?: string): Promise<void>;
}

export function emptyUserDocument(userId: string, nowIso: string, ttlSeconds: number): UserDocument {
  return {
    user_info: { user_id: userId, session_id: '', backend_route: '', last_seen_at: nowIso, status: 'offline' },
    companies: { current_company_id: '', authorized_companies_ids: [], company_roles: {} },
    services: {
      chroma: { collections: [], last_heartbeat: null },
      llm: { active_conversations: [], model_preferences: {} },
      tasks: { active_tasks: [], task_history: [] },
    },
    heartbeat: { last_heartbeat: nowIso, ttl_seconds: ttlSeconds },
  };
}

export const USER_TTL_SECONDS = 24 * 3600;
export const TASK_TTL_GRACE_SECONDS = 300;
