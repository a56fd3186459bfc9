import type { Pool } from '../../sql/db/pool.js';
import type { Domain } from '../admission.js';
import type { Exchanges } from '../http.js';
import type { CachedReads } from '../reads.js';
import type { Writes } from '../writes.js';

/** What every data route is mounted with: its reads go through `reads`, its writes through `writes`. */
export interface RouteContext {
  readonly exchanges: Exchanges;
  /** For the statements that load a missed body: each route uses its domain's gated pool (server/admission.ts). */
  readonly pools: Readonly<Record<Domain, Pool>>;
  readonly reads: CachedReads;
  readonly writes: Writes;
}
