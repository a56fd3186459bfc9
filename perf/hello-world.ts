/**
 * The HTTP ceiling: the same uWS build, the same number of worker processes and the same port
 * sharing as the API (each worker binds the port itself; uSockets sets SO_REUSEPORT on Linux),
 * answering a fixed JSON body with no routing, database or cache work. What the API reaches
 * against this, on the same machine and load generator, is what the serving path costs.
 *
 *   npm run build:dev && PORT=3001 WORKERS=2 node build/perf/hello-world.js
 *   wrk -t2 -c64 -d15s http://127.0.0.1:3001/
 */
import cluster from 'node:cluster';
import { loadConfig } from '../lib/config.js';
import { uws } from '../server/uws.js';

const config = loadConfig();
const BODY = Buffer.from('{"hello":"world"}');

if (cluster.isPrimary) {
  for (let i = 0; i < config.workers; i++) cluster.fork();
  console.log(`hello-world: ${config.workers} workers on port ${config.port}`);
} else {
  // Without the primary nobody stops this worker, so it leaves with it.
  process.on('disconnect', () => process.exit(0));
  uws
    .App()
    .any('/*', (res) => {
      res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json; charset=utf-8').end(BODY);
    })
    .listen('0.0.0.0', config.port, (socket) => {
      if (!socket) {
        console.error(`hello-world: worker ${process.pid} cannot listen on port ${config.port}`);
        process.exit(1);
      }
    });
}
