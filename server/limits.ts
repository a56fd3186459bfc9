/** The bounds request parameters and bodies are checked against (server/params.ts, server/validate.ts). */

/** Ids are PostgreSQL integers. */
export const MAX_ID = 2 ** 31 - 1;
export const DEFAULT_PAGE = 1;
export const DEFAULT_COUNT = 5;
export const MAX_COUNT = 1000;
/** Keeps (page - 1) * count well inside a bigint OFFSET and a safe JS integer. */
export const MAX_PAGE = 2 ** 31 - 1;
export const MAX_PHOTOS = 5;
export const MAX_URL_LENGTH = 2048;
