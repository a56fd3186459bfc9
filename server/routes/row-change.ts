import { ERRORS } from '../errors.js';
import { NO_CONTENT } from '../http.js';
import { pathId } from '../params.js';
import type { Reply } from '../reply.js';
import type { HttpRequest } from '../uws.js';
import type { ChangeRow } from '../writes.js';

/**
 * PUT …/:id/helpful and …/:id/report: 404 for an unknown id, otherwise 204 once the change has
 * committed and every cached body it affects is invalidated (server/writes.ts).
 */
export function rowChangeRoute(change: ChangeRow) {
  return {
    put: async (req: HttpRequest): Promise<Reply> =>
      (await change(pathId(req.getParameter(0)))) ? NO_CONTENT : ERRORS.unknownId,
  };
}
