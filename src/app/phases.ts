/** Shutdown phases (DESIGN habit 7): lower closes first. Here so role modules need not import core.ts. */
export const PHASE = { intake: 10, listeners: 20, workers: 30, queues: 40, flags: 50, redis: 60, firebase: 65, logs: 70 } as const;
