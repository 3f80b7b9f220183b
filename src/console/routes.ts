/**
 * The operator console at `/admin` (plain HTML/CSS/JS from src/console/public plus uPlot from
 * node_modules, all served here: nothing from a CDN, works offline).
 *
 * - GET  /admin                    the console (or the sign-in form, 401)
 * - POST /admin/login              sign in with the service token (form field `token`)
 * - POST /admin/logout             sign out
 * - GET  /admin/static/<file>      the console's assets
 * - GET  /admin/api/overview       every process's status record + scheduler state
 * - GET  /admin/api/users/<uid>    the user view (presence, sessions, company, watchers, events, tasks)
 * - GET  /admin/api/users/<uid>/stream   the same as server-sent events, sent when it changes
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../core.js';
import { adminSetCookie, tokenMatches } from '../shared/tokens.js';
import { adminDenial, checkAdmin } from './auth.js';
import { invalidArgs, toErrorBody, unavailable } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import { readStatusRecords, type StatusRecord } from './status.js';

const UID = /^[A-Za-z0-9_.@+=-]{1,128}$/;
const RECENT_EVENTS = 50;
const USER_TASKS = 50;
/** How often an open user stream re-reads the user view (sent only when it changed). */
const STREAM_POLL_MS = 1000;
const MAX_STREAMS = 50;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

interface Asset {
  type: string;
  body: Buffer;
}

function loadAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const local = (name: string) => readFileSync(new URL(`./public/${name}`, import.meta.url));
  const assets = new Map<string, Asset>([
    ['console.js', { type: 'text/javascript; charset=utf-8', body: local('console.js') }],
    ['console.css', { type: 'text/css; charset=utf-8', body: local('console.css') }],
    ['uplot.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')) }],
    ['uplot.css', { type: 'text/css; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')) }],
  ]);
  return assets;
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/admin/static/uplot.css"><link rel="stylesheet" href="/admin/static/console.css">
</head><body>${body}</body></html>`;
}

function signInPage(message: string): string {
  return page(
    'pinnokio console: sign in',
    `<main class="signin"><h1>pinnokio console</h1>
<p>${esc(message)}</p>
<form method="post" action="/admin/login"><label>service token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">sign in</button></form>
<p class="hint">One sign-in for every admin page (this console and <code>/admin/queues</code>), valid 12 hours.</p></main>`,
  );
}

function consolePage(core: Core): string {
  const c = core.deps.config;
  return page(
    'pinnokio console',
    `<header><h1>pinnokio console</h1><span class="muted">served by <b id="served-by">${esc(c.instanceId)}</b> (${esc(c.role)}, ${esc(c.serviceVersion)})</span>
<nav><a href="/admin/queues" id="link-queues">queues (bull-board)</a> <a href="/docs" id="link-docs">API docs</a> <form method="post" action="/admin/logout" class="inline"><button type="submit">sign out</button></form></nav>
<span id="conn" class="pill">loading</span></header>
<main>
<section><h2>Processes <span class="muted" id="node-count"></span></h2><table id="nodes"><thead><tr><th>instance</th><th>role</th><th>version</th><th>host / pid</th><th>uptime</th><th>sockets</th><th>users</th><th>watchers</th><th>leases</th><th>dependencies</th><th>last report</th></tr></thead><tbody></tbody></table></section>
<section class="grid2">
<div><h2>Users online</h2><table id="users"><thead><tr><th>uid</th><th>connected on</th><th>watchers (lease holder)</th></tr></thead><tbody></tbody></table></div>
<div><h2>Queues</h2><table id="queues"><thead><tr><th>queue</th><th>waiting</th><th>active</th><th>delayed</th><th>failed</th><th>completed</th></tr></thead><tbody></tbody></table>
<h2>Scheduler</h2><table id="scheduler"><thead><tr><th>schedule</th><th>every</th><th>last run</th><th>next run</th></tr></thead><tbody></tbody></table></div>
</section>
<section><h2>Live metrics <span class="muted">(all processes, from their status records)</span></h2>
<div class="charts">
<figure id="chart-events" class="chart" data-points="0"><figcaption>events published / s by type</figcaption></figure>
<figure id="chart-rpc" class="chart" data-points="0"><figcaption>RPC calls / s and latency p50 / p99 (ms)</figcaption></figure>
<figure id="chart-jobs" class="chart" data-points="0"><figcaption>queue wait and job duration p50 / p99 (ms)</figcaption></figure>
<figure id="chart-sockets" class="chart" data-points="0"><figcaption>socket connects / disconnects per s, registry fallbacks / s</figcaption></figure>
</div></section>
<section id="user-view"><h2>User view</h2>
<form id="user-form"><label>uid <input id="uid" name="uid" required pattern="[A-Za-z0-9_.@+=\\-]{1,128}"></label> <button type="submit">show</button> <span id="user-state" class="pill">idle</span></form>
<div id="user" hidden>
<div class="grid2"><div><h3>Presence</h3><dl id="user-presence"></dl><h3>Registry</h3><dl id="user-registry"></dl></div>
<div><h3>Watchers</h3><ul id="user-watchers"></ul><h3>Tasks</h3><table id="user-tasks"><thead><tr><th>task</th><th>type</th><th>status</th><th>progress</th><th>updated</th></tr></thead><tbody></tbody></table></div></div>
<h3>Recent events <span class="muted">(replay history, newest first)</span></h3><ul id="user-events" class="events"></ul>
</div></section>
</main>
<script src="/admin/static/uplot.js"></script><script src="/admin/static/console.js"></script>`,
  );
}

function secureHeaders(reply: FastifyReply): FastifyReply {
  return reply.header('content-security-policy', CSP).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').header('x-content-type-options', 'nosniff');
}

export interface UserView {
  uid: string;
  at: number;
  presence: { sockets: number; nodes: string[] };
  registry: unknown;
  registry_error?: string;
  watchers: Array<{ instance_id: string; watchers: string[] }>;
  wanted: Array<{ spec: unknown; refs: number }>;
  events: unknown[];
  tasks: unknown[];
  tasks_error?: string;
}

export async function userView(core: Core, uid: string, records?: StatusRecord[]): Promise<UserView> {
  const { redis, registry, taskRegistry } = core.deps;
  const now = Date.now();
  const recs = records ?? (await readStatusRecords(redis));
  const [sockets, history, wantedRaw] = await Promise.all([
    redis.zcount(keys.presenceSockets(uid), now, '+inf'),
    redis.lrange(keys.eventHistory(uid), -RECENT_EVENTS, -1),
    redis.hgetall(keys.listenerWanted(uid)),
  ]);
  const view: UserView = {
    uid,
    at: now,
    presence: { sockets, nodes: recs.filter((r) => r.users_connected.uids.includes(uid)).map((r) => r.instance_id) },
    registry: null,
    watchers: recs.flatMap((r) => r.leases.users.filter((u) => u.uid === uid).map((u) => ({ instance_id: r.instance_id, watchers: u.watchers }))),
    wanted: Object.entries(wantedRaw).map(([spec, refs]) => {
      try {
        return { spec: JSON.parse(spec) as unknown, refs: Number(refs) };
      } catch {
        return { spec, refs: Number(refs) };
      }
    }),
    events: history
      .map((h) => {
        try {
          return JSON.parse(h) as unknown;
        } catch {
          return undefined;
        }
      })
      .filter((e) => e !== undefined)
      .reverse(),
    tasks: [],
  };
  try {
    view.registry = await registry.getUserRegistry(uid);
  } catch (err) {
    view.registry_error = (err as Error).message.slice(0, 200);
  }
  try {
    view.tasks = await taskRegistry.listUserTasks(uid, USER_TASKS);
  } catch (err) {
    view.tasks_error = (err as Error).message.slice(0, 200);
  }
  return view;
}

async function schedulerState(core: Core): Promise<unknown> {
  const rt = core.tasks;
  if (!rt) return null;
  const queue = rt.queues.get('maintenance');
  const [schedulers, finished] = await Promise.all([queue.getJobSchedulers(0, -1), queue.getJobs(['completed', 'failed'], 0, 99)]);
  const last = new Map<string, { finished_at: number; outcome: string }>();
  for (const j of finished) {
    if (!j?.finishedOn) continue;
    const prev = last.get(j.name);
    if (!prev || prev.finished_at < j.finishedOn) last.set(j.name, { finished_at: j.finishedOn, outcome: j.failedReason ? 'failed' : 'completed' });
  }
  return schedulers.map((s) => ({ id: s.key, name: s.name, every_ms: s.every ?? null, next_at: s.next ?? null, last: last.get(s.name) ?? null }));
}

type Scope = FastifyInstance;
type Guard = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
type UidRequest = FastifyRequest<{ Params: { uid: string } }>;

/** Pages answer the sign-in form; the API answers JSON. */
function adminGuard(expected: string | undefined, html: boolean): Guard {
  return async (req, reply) => {
    const r = checkAdmin(req, reply, expected);
    if (r.kind === 'ok') return;
    if (r.kind === 'redirect') return reply.redirect(r.location, 303);
    if (html) return secureHeaders(reply).code(r.status).type('text/html; charset=utf-8').send(signInPage(r.message));
    return reply.code(r.status).send({ ok: false, error: toErrorBody(adminDenial(r)) });
  };
}

/** GET /admin, POST /admin/login, POST /admin/logout. */
function registerSignIn(scope: Scope, core: Core, expected: string | undefined): void {
  scope.get('/admin', { onRequest: adminGuard(expected, true) }, async (_req, reply) => secureHeaders(reply).type('text/html; charset=utf-8').send(consolePage(core)));

  scope.post('/admin/login', async (req, reply) => {
    const token = req.body instanceof URLSearchParams ? req.body.get('token') : undefined;
    if (!expected) return secureHeaders(reply).code(401).type('text/html; charset=utf-8').send(signInPage('service token is not configured on this instance (LISTENERS_SERVICE_TOKEN)'));
    if (!tokenMatches(token ?? undefined, expected)) return secureHeaders(reply).code(403).type('text/html; charset=utf-8').send(signInPage('invalid service token'));
    return reply.header('set-cookie', adminSetCookie(expected, req.protocol === 'https')).header('cache-control', 'no-store').redirect('/admin', 303);
  });

  scope.post('/admin/logout', async (req, reply) => reply.header('set-cookie', adminSetCookie(expected, req.protocol === 'https', true)).redirect('/admin', 303));
}

/** GET /admin/static/<file>: the console's assets. */
function registerStatic(scope: Scope, assets: Map<string, Asset>): void {
  scope.get<{ Params: { file: string } }>('/admin/static/:file', async (req, reply) => {
    const a = assets.get(req.params.file);
    if (!a) return reply.code(404).type('text/plain').send('not found');
    return reply.type(a.type).header('cache-control', 'public, max-age=300').header('x-content-type-options', 'nosniff').send(a.body);
  });
}

function uidOf(req: UidRequest, reply: FastifyReply): string | undefined {
  const uid = req.params.uid;
  if (UID.test(uid)) return uid;
  void reply.code(400).send({ ok: false, error: toErrorBody(invalidArgs('uid may contain only letters, digits and _ . @ + = - (1-128 characters)')) });
  return undefined;
}

/** GET /admin/api/overview and /admin/api/users/<uid>. */
function registerApi(scope: Scope, core: Core, guard: Guard): void {
  scope.get('/admin/api/overview', { onRequest: guard }, async (_req, reply) => {
    const nodes = await readStatusRecords(core.deps.redis);
    let scheduler: unknown = null;
    let scheduler_error: string | undefined;
    try {
      scheduler = await schedulerState(core);
    } catch (err) {
      scheduler_error = (err as Error).message.slice(0, 200);
    }
    return reply.header('cache-control', 'no-store').send({ ok: true, data: { now: Date.now(), served_by: core.deps.config.instanceId, nodes, scheduler, ...(scheduler_error ? { scheduler_error } : {}) } });
  });

  scope.get<{ Params: { uid: string } }>('/admin/api/users/:uid', { onRequest: guard }, async (req, reply) => {
    const uid = uidOf(req, reply);
    if (!uid) return reply;
    return reply.header('cache-control', 'no-store').send({ ok: true, data: await userView(core, uid) });
  });
}

/** Streams one user's view as server-sent events on a hijacked response, sent only when it changed. */
function streamUserView(core: Core, uid: string, res: import('node:http').ServerResponse, open: Set<import('node:http').ServerResponse>): void {
  open.add(res);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  let last = '';
  let busy = false;
  let ticks = 0;
  const tick = async () => {
    if (busy || res.writableEnded) return;
    busy = true;
    try {
      const v = await userView(core, uid);
      if (res.writableEnded) return;
      const body = JSON.stringify({ ...v, at: undefined });
      if (body !== last) {
        last = body;
        res.write(`event: user\ndata: ${JSON.stringify(v)}\n\n`);
      } else if (++ticks % 15 === 0) res.write(': keep-alive\n\n');
    } catch (err) {
      res.write(`event: problem\ndata: ${JSON.stringify({ message: (err as Error).message.slice(0, 200) })}\n\n`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), STREAM_POLL_MS);
  res.once('close', () => {
    clearInterval(timer);
    open.delete(res);
  });
  void tick();
}

/** GET /admin/api/users/<uid>/stream (at most MAX_STREAMS open per node). */
function registerStream(scope: Scope, core: Core, guard: Guard, open: Set<import('node:http').ServerResponse>): void {
  scope.get<{ Params: { uid: string } }>('/admin/api/users/:uid/stream', { onRequest: guard }, async (req, reply) => {
    const uid = uidOf(req, reply);
    if (!uid) return reply;
    if (open.size >= MAX_STREAMS) return reply.code(503).send({ ok: false, error: toErrorBody(unavailable(`at most ${MAX_STREAMS} user streams per node`)) });
    reply.hijack();
    streamUserView(core, uid, reply.raw, open);
  });
}

export function registerConsole(app: FastifyInstance, o: { core: Core }): void {
  const { core } = o;
  const expected = core.deps.config.serviceToken;
  const assets = loadAssets();
  const open = new Set<import('node:http').ServerResponse>();
  // Open event streams would keep app.close() waiting: end them first.
  app.addHook('preClose', (done) => {
    for (const r of open) r.end();
    done();
  });

  void app.register((scope, _opts, done) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, parsed) => {
      parsed(null, new URLSearchParams(body as string));
    });
    const guard = adminGuard(expected, false);
    registerSignIn(scope, core, expected);
    registerStatic(scope, assets);
    registerApi(scope, core, guard);
    registerStream(scope, core, guard, open);
    done();
  });
}
