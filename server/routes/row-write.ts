import type { Pool } from '../../sql/db.js';
import type { RowWrite } from '../../sql/queries/invalidation.js';
import { ERRORS } from '../errors.js';
import { NO_CONTENT } from '../http.js';
import type { CacheCoherence } from '../invalidation.js';
import { pathId } from '../params.js';
import type { Reply } from '../reply.js';
import type { HttpRequest } from '../uws.js';

/**
 * PUT …/:id/helpful and …/:id/report: 404 for an unknown id, otherwise 204 once the change has
 * committed and every cached body it affects is invalidated.
 */
export function rowWriteRoute(pool: Pool, coherence: CacheCoherence, write: RowWrite) {
  return {
    put: async (req: HttpRequest): Promise<Reply> => {
      const written = await write(pool, pathId(req.getParameter(0)));
      if (written === undefined) return ERRORS.unknownId;
      await coherence.written(written);
      return NO_CONTENT;
    },
  };
}
