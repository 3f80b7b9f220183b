import { afterAll, beforeAll } from 'vitest';
import { startFirestore, type FirestoreEmulator } from './env.js';
import { startTestService, type TestService } from './service.js';

/**
 * One test stack: the run's private redis-server (started once by globalSetup.ts, never 6379), an
 * in-process Firestore emulator for this file, and a service (real core + HTTP app through
 * app.inject) on both. Replaces the emulator-plus-service prologue of the integration files.
 */
export interface TestStack {
  fs: FirestoreEmulator;
  svc: TestService;
  /** Closes the service, then the emulator. */
  close(): Promise<void>;
}

export type StackOptions = Parameters<typeof startTestService>[0];

export async function startStack(o: StackOptions = {}): Promise<TestStack> {
  const fs = await startFirestore();
  let svc: TestService;
  try {
    svc = await startTestService(o);
  } catch (err) {
    fs.stop();
    throw err;
  }
  return {
    fs,
    svc,
    async close() {
      await svc.close();
      fs.stop();
    },
  };
}

/**
 * Starts a stack before the file's tests and closes it after them. `ready` runs once it is up (a
 * file's own setup: queues, workers, bookkeeping…), inside the same beforeAll.
 */
export function useStack(o: StackOptions = {}, ready?: (s: TestStack) => void | Promise<void>): void {
  let stack: TestStack | undefined;
  beforeAll(async () => {
    stack = await startStack(o);
    await ready?.(stack);
  });
  afterAll(async () => {
    await stack?.close();
  });
}
