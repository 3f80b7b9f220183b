export { freeClusterPort, freePort, portOpen, waitForPort } from '../../scripts/lib/net.js';
