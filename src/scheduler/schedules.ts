/**
 * Every periodic job, declared once (CONTRACT §9). The scheduler id is the kind's name; each entry
 * becomes a BullMQ job scheduler on the `maintenance` queue, and BullMQ derives each run's job id
 * from the scheduler id and the tick time, so however many `beat` processes declare it, a tick is
 * one job and runs once.
 */
export interface Schedule {
  /** Job scheduler id and task kind name (src/workers/tasks). */
  id: string;
  everyMs: number;
}

export const SCHEDULES: readonly Schedule[] = [
  { id: 'registry_cleanup', everyMs: 300_000 },
  { id: 'dependency_health', everyMs: 60_000 },
  { id: 'listener_expiry', everyMs: 60_000 },
];
