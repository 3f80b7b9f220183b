import { randomUUID } from 'node:crypto';
import { cert, deleteApp, initializeApp, type App, type AppOptions } from 'firebase-admin/app';
import { getAuth, type Auth } from 'firebase-admin/auth';
import { getDatabase, type Database } from 'firebase-admin/database';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import type { FirebaseSettings } from '../config/schema.js';

export interface FirebaseHandle {
  readonly app: App;
  readonly firestore: Firestore;
  readonly auth: Auth;
  /** Realtime Database, when a database URL or emulator is configured. */
  readonly database: Database | undefined;
  readonly name: string;
  close(): Promise<void>;
}

/**
 * One named firebase-admin app per call (tests run several in one process). Emulator hosts are
 * honoured through the environment variables firebase-admin itself reads; the composition root
 * (main.ts) is what sets them from the configuration.
 */
export function createFirebase(settings: FirebaseSettings, name = `pinnokio-${randomUUID().slice(0, 8)}`): FirebaseHandle {
  const options: AppOptions = {};
  if (settings.serviceAccount) options.credential = cert(settings.serviceAccount);
  if (settings.projectId) options.projectId = settings.projectId;
  const dbUrl = settings.databaseUrl ?? (settings.databaseEmulatorHost ? `http://${settings.databaseEmulatorHost}?ns=${settings.projectId ?? 'demo'}` : undefined);
  if (dbUrl) options.databaseURL = dbUrl;
  const app = initializeApp(options, name);
  const firestore = getFirestore(app);
  firestore.settings({ ignoreUndefinedProperties: true });
  let closed: Promise<void> | undefined;
  return {
    app,
    firestore,
    auth: getAuth(app),
    database: dbUrl ? getDatabase(app) : undefined,
    name,
    close() {
      closed ??= (async () => {
        try {
          await firestore.terminate();
        } catch {
          /* already terminated */
        }
        await deleteApp(app).catch(() => undefined);
      })();
      return closed;
    },
  };
}
