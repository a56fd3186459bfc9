/**
 * The one module that imports the PostgreSQL client packages (the dependency rule checks it), so
 * upgrading or replacing the driver touches this file alone. Policy — timeouts, shedding,
 * application names, how errors are read — lives in the modules beside it.
 */
import copyStreams from 'pg-copy-streams';

export { Client, escapeIdentifier, Pool } from 'pg';
export type { PoolClient, PoolConfig } from 'pg';

/** A `COPY … FROM STDIN` query for Client.query(); the stream it returns is what the rows are written to. */
export const copyFrom = copyStreams.from;
