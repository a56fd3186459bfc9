import type { Written } from '../../sql/queries/invalidation.js';
import { ERRORS } from '../errors.js';
import { NO_CONTENT } from '../http.js';
import type { CacheCoherence } from '../invalidation.js';
import { pathId } from '../params.js';
import type { Reply } from '../reply.js';
import type { HttpRequest } from '../uws.js';

/** Changes the row with this id; undefined when there is none. */
export type WriteRow = (id: number) => Promise<Written | undefined>;

/**
 * PUT …/:id/helpful and …/:id/report: 404 for an unknown id, otherwise 204 once the change has
 * committed and every cached body it affects is invalidated.
 */
export function rowWriteRoute(coherence: CacheCoherence, write: WriteRow) {
  return {
    put: async (req: HttpRequest): Promise<Reply> => {
      const written = await write(pathId(req.getParameter(0)));
      if (written === undefined) return ERRORS.unknownId;
      await coherence.written(written);
      return NO_CONTENT;
    },
  };
}
