/**
 * The compressed representations of a cached body, made once, when a client that accepts a coding
 * first asks for it (server/cache.ts): gzip for every client that accepts it, and brotli besides
 * when it comes out smaller.
 * The levels are measured (docs/benchmarks.md § Compressed bodies): gzip 6 is within 2 % of
 * gzip 9's bytes; brotli 5 saves a further 7–11 % over gzip 6 for about 1.5× its CPU, while
 * qualities 9–11 save a few % more for 10–100× the CPU, which a review list rebuilt after every
 * write cannot afford.
 *
 * zlib runs on libuv's thread pool, so the event loop keeps answering hits while a body
 * compresses; a miss answered compressed waits for it, a hit never does.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { type ContentCoding, encodedReply, ownedBytes, type TaggedReply, withEncodings } from './reply.js';

export const GZIP_LEVEL = 6;
export const BROTLI_QUALITY = 5;

const gzip = promisify(zlib.gzip);
const brotli = promisify(zlib.brotliCompress);

/** `identity` with its compressed representations, or itself when its body is too short for them. */
export async function compressed(identity: TaggedReply): Promise<TaggedReply> {
  if (!identity.variesByEncoding) return identity;
  const { body } = identity;
  const [gzipped, brotlied] = await Promise.all([
    gzip(body, { level: GZIP_LEVEL }),
    brotli(body, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
        [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    }),
  ]);
  const encoded: Partial<Record<ContentCoding, TaggedReply>> = {};
  if (gzipped.length < body.length) encoded.gzip = encodedReply(identity, 'gzip', ownedBytes(gzipped));
  if (brotlied.length < Math.min(body.length, gzipped.length)) {
    encoded.br = encodedReply(identity, 'br', ownedBytes(brotlied));
  }
  return withEncodings(identity, encoded);
}
