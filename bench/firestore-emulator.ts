/**
 * The in-process Firestore emulator in a process of its own, for the benches (so its CPU is not
 * billed to the server under measurement). Forked with IPC: argv[2] = port; sends {ready:true},
 * stops on any message or on SIGINT/SIGTERM.
 */
import { FirestoreServer } from '@firestore-emulator/server';

const port = Number(process.argv[2]);
const server = new FirestoreServer();
await server.start(port);
process.send?.({ ready: true });
const stop = () => {
  server.stop();
  process.exit(0);
};
process.on('message', stop);
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.on('disconnect', stop);
