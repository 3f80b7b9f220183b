export { freePort, portOpen, waitForPort } from '../../scripts/lib/net.js';
