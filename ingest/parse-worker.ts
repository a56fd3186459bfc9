/**
 * Worker thread of the parse pool (parse-pool.ts): parses the chunks it is sent and posts the
 * results back with the chunk, handing their buffers over instead of copying them.
 */
import { parentPort } from 'node:worker_threads';
import { ChunkParser } from './chunk-parser.js';
import type { ParseReply, ParseRequest } from './parse-pool.js';
import { RowEncoder } from './row-encoder.js';
import { tableSpec } from './tables.js';

if (!parentPort) throw new Error('parse-worker.js runs as a worker thread of the ingest');
const port = parentPort;

const parser = new ChunkParser();
let encoderKey = '';
let encoder: RowEncoder | undefined;

function encoderFor(table: string, headers: readonly string[]): RowEncoder {
  const key = `${table}:${headers.join(',')}`;
  if (encoder === undefined || key !== encoderKey) {
    encoder = new RowEncoder(tableSpec(table), headers);
    encoderKey = key;
  }
  return encoder;
}

port.on('message', (request: ParseRequest) => {
  parser.parse(request.chunk, encoderFor(request.table, request.headers), request.headers).then(
    (result) => {
      const reply: ParseReply = { seq: request.seq, result };
      port.postMessage(reply, [
        result.input.buffer,
        result.lineStarts.buffer,
        result.status.buffer,
        result.repaired.buffer,
        result.keys.buffer,
        result.copy.buffer,
        result.tupleEnds.buffer,
      ] as ArrayBuffer[]);
    },
    (err: unknown) => {
      const reply: ParseReply = {
        seq: request.seq,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      };
      port.postMessage(reply);
    },
  );
});
