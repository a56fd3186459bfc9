import { createRequire } from 'node:module';
import type * as UwsTypes from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/**
 * The uWebSockets.js build we depend on silently falls back to a slow pure-JS shim when its
 * native binary does not load. Serving on the shim would look like it works at a fraction of
 * the speed, so refuse to start instead.
 */
function loadNative(): typeof UwsTypes {
  const uws = require('uWebSockets.js') as typeof UwsTypes;
  const binaryLoaded = Object.keys(require.cache).some((file) => file.endsWith('.node') && file.includes('uws_'));
  if (!binaryLoaded) {
    throw new Error(
      `uWebSockets.js could not load its native binary for node ${process.version} ` +
        `(${process.platform}-${process.arch}, ABI ${process.versions.modules}); ` +
        'refusing to serve on the slow JavaScript fallback. Use Node 20 on glibc >= 2.36 (see README).',
    );
  }
  return uws;
}

export const uws = loadNative();
