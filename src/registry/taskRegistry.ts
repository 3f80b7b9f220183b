import { conflict } from '../shared/errors.js';
import type { RedisClient } from '../shared/redis.js';
import { keys } from '../shared/keys.js';
import { assemble, field, flatten } from './hashDoc.js';
import {
  TASK_TTL_GRACE_SECONDS,
  TERMINAL_STATUSES,
  TERMINAL_TASK_STATUSES,
  USER_TTL_SECONDS,
  type RegisterTaskInput,
  type TaskDocument,
  type TaskProgressInput,
  type TaskRegistry,
  type TaskUpdateOutcome,
  type AfterTaskUpdate,
} from './types.js';

const F = {
  owner: field('task_info', 'user_id'),
  status: field('task_info', 'status'),
  progress: field('progress', 'progress_percent'),
  step: field('progress', 'current_step'),
  eta: field('progress', 'estimated_completion'),
  worker: field('resources', 'worker_id'),
  result: field('result'),
  error: field('error'),
};

/**
 * One atomic update of a task hash. Terminal states are final (the first terminal writer wins, so
 * exactly one terminal event is published); progress never decreases.
 * KEYS[1] task key. ARGV: status JSON, progress ('' = keep), step JSON|'', worker JSON|'', eta JSON|'',
 * result JSON|'', error JSON|''. Returns {code, stored progress, owner JSON}: code 1 updated, 0
 * already terminal, -1 missing (the owner saves a read when a terminal update notes the task on
 * the user's document). The stored progress is read in the same script, so a terminal event built
 * from it is never below a progress recorded (and so possibly published) before it. Three commands
 * (EXISTS, one HMGET, one HSET of every changed field) whatever the update carries.
 */
/** A Lua condition: `v` (a JSON-encoded status) is one of TERMINAL_TASK_STATUSES. */
const luaIsTerminal = (v: string) => TERMINAL_TASK_STATUSES.map((s) => `${v} == '${JSON.stringify(s)}'`).join(' or ');

const UPDATE_TASK = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, '0'} end
local cur = redis.call('HMGET', KEYS[1], '${F.status}', '${F.progress}', '${F.owner}')
local st = cur[1]
if ${luaIsTerminal('st')} then return {0, cur[2] or '0'} end
local progress = cur[2] or '0'
local w = {'${F.status}', ARGV[1]}
local nxt
if ARGV[1] == '"completed"' then nxt = 100
elseif ARGV[2] ~= '' then nxt = tonumber(ARGV[2]) end
if nxt and nxt > (tonumber(progress) or 0) then
  progress = tostring(nxt)
  w[#w + 1] = '${F.progress}'
  w[#w + 1] = progress
end
if ARGV[3] ~= '' then w[#w + 1] = '${F.step}'; w[#w + 1] = ARGV[3] end
if ARGV[4] ~= '' then w[#w + 1] = '${F.worker}'; w[#w + 1] = ARGV[4] end
if ARGV[5] ~= '' then w[#w + 1] = '${F.eta}'; w[#w + 1] = ARGV[5] end
if ARGV[6] ~= '' then w[#w + 1] = '${F.result}'; w[#w + 1] = ARGV[6] end
if ARGV[7] ~= '' then w[#w + 1] = '${F.error}'; w[#w + 1] = ARGV[7] end
redis.call('HSET', KEYS[1], unpack(w))
return {1, progress, cur[3] or ''}
`;

/**
 * (Re)registers a task document unless the id is held by another user's task (CONTRACT §13.8: a
 * task id of another user is never replaced). One script, so two users racing for one id cannot
 * both win. KEYS[1] task key; ARGV[1] owner JSON; ARGV[2] TTL seconds; ARGV[3..] field, value…
 * Returns 1 written, 0 held by another user.
 */
const REGISTER_TASK = `
local owner = redis.call('HGET', KEYS[1], '${F.owner}')
if owner and owner ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

const enc = (v: unknown): string => (v === undefined ? '' : JSON.stringify(v));

export class RedisTaskRegistry implements TaskRegistry {
  constructor(
    private readonly redis: RedisClient,
    private readonly opts: { now?: () => Date; onTask?: (userId: string, taskId: string, terminal: boolean) => Promise<void> } = {},
  ) {
    this.redis.defineCommand('registryUpdateTask', { numberOfKeys: 1, lua: UPDATE_TASK });
    this.redis.defineCommand('registryRegisterTask', { numberOfKeys: 1, lua: REGISTER_TASK });
  }

  async registerTask(input: RegisterTaskInput): Promise<TaskDocument> {
    const now = this.opts.now ? this.opts.now() : new Date();
    const doc: TaskDocument = {
      task_info: {
        task_id: input.taskId,
        task_type: input.taskType,
        user_id: input.userId,
        company_id: input.companyId,
        created_at: now.toISOString(),
        status: 'queued',
      },
      isolation: { namespace: `${input.userId}_${input.companyId}`, priority: input.priority, max_duration: input.maxDuration },
      progress: { current_step: null, progress_percent: 0, estimated_completion: null },
      resources: { worker_id: null, memory_usage: null, cpu_usage: null },
    };
    const k = keys.task(input.taskId);
    const ut = keys.userTasks(input.userId);
    const fields: Record<string, string> = {};
    for (const section of ['task_info', 'isolation', 'progress', 'resources'] as const) {
      flatten([section], doc[section], fields);
    }
    // A re-registration of the same id by its owner starts a fresh document (old fields, e.g. a result, go).
    // Everything is sent in one round trip: the user's task index and the note on the user's
    // document do not wait for the script (a refused id is still indexed for this user, and
    // listUserTasks filters ids whose document another user holds).
    const nowMs = now.getTime();
    const [written] = await Promise.all([
      (this.redis as unknown as TaskScripts).registryRegisterTask(k, JSON.stringify(input.userId), String(input.maxDuration + TASK_TTL_GRACE_SECONDS), ...Object.entries(fields).flat()),
      this.redis.zadd(ut, nowMs, input.taskId),
      this.redis.zremrangebyscore(ut, '-inf', nowMs - USER_TTL_SECONDS * 1000),
      this.redis.expire(ut, USER_TTL_SECONDS),
    ]);
    if (written !== 1) throw conflict(`task id ${input.taskId} is taken by another user's task; choose another id`);
    await this.opts.onTask?.(input.userId, input.taskId, false);
    return doc;
  }

  async updateTaskProgress(input: TaskProgressInput, then?: AfterTaskUpdate): Promise<TaskUpdateOutcome> {
    return (await this.updateTask(input, then)).outcome;
  }

  async updateTask(input: TaskProgressInput, then?: AfterTaskUpdate): Promise<{ outcome: TaskUpdateOutcome; progress: number }> {
    const k = keys.task(input.taskId);
    const progress = input.progressPercent === undefined || input.progressPercent === null ? '' : String(Math.max(0, Math.min(100, input.progressPercent)));
    const res = (await (this.redis as unknown as TaskScripts).registryUpdateTask(
      k,
      JSON.stringify(input.status),
      progress,
      input.currentStep === undefined ? '' : enc(input.currentStep),
      input.workerId === undefined ? '' : enc(input.workerId),
      input.estimatedCompletion === undefined ? '' : enc(input.estimatedCompletion),
      enc(input.result),
      enc(input.error),
    )) as [number, string, string?];
    const stored = Number(res[1]);
    const now = Number.isFinite(stored) ? stored : 0;
    const outcome: TaskUpdateOutcome = res[0] === -1 ? 'missing' : res[0] === 0 ? 'terminal' : 'updated';
    const r = { outcome, progress: now };
    const uid = r.outcome === 'updated' && this.opts.onTask && TERMINAL_STATUSES.has(input.status) ? res[2] : undefined;
    // The note on the user's document and the caller's next step (its event) go out together.
    await Promise.all([uid ? this.opts.onTask!(JSON.parse(uid) as string, input.taskId, true) : undefined, then?.(r)]);
    return r;
  }

  async getTaskRegistry(taskId: string): Promise<TaskDocument | null> {
    const hash = await this.redis.hgetall(keys.task(taskId));
    if (Object.keys(hash).length === 0) return null;
    return assemble(hash) as unknown as TaskDocument;
  }

  /** The user's recent tasks; an id since reused by another user (after expiry) is not listed. */
  async listUserTasks(userId: string, limit = 100): Promise<TaskDocument[]> {
    const ids = await this.redis.zrevrange(keys.userTasks(userId), 0, limit - 1);
    const docs = await Promise.all(ids.map((id) => this.getTaskRegistry(id)));
    return docs.filter((d): d is TaskDocument => d !== null && d.task_info.user_id === userId);
  }
}

interface TaskScripts {
  registryUpdateTask(key: string, ...args: string[]): Promise<unknown>;
  registryRegisterTask(key: string, ...args: string[]): Promise<unknown>;
}
