/** bench/fanout: the in-process Firestore emulator in its own process (the gateway's syncs read it at connect). */
import { FirestoreServer } from '@firestore-emulator/server';

const port = Number(process.argv[2]);
const server = new FirestoreServer();
await server.start(port);
process.send?.({ ready: true });
process.on('message', () => {
  server.stop();
  process.exit(0);
});
