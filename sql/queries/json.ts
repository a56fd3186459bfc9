/**
 * Fragments that print JSON inside a statement. Every body is built with row_to_json and
 * array_to_json, which print compact JSON (see products.ts); each fragment here is a correlated
 * subquery that a statement places where a value of its SELECT list goes.
 */

/** How every API date is printed: ISO-8601 UTC with milliseconds, "2020-07-30T03:41:21.467Z". */
export function isoDate(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

interface Rows {
  /** The table and its alias, `reviews_photos p`. */
  readonly from: string;
  /** Which rows, usually correlated with the enclosing query: `p.review_id = r.id`. */
  readonly where: string;
  /** The JSON printed when no row matches, where the legacy API printed a placeholder. */
  readonly empty?: string;
}

/**
 * The columns each row prints as an object, keys in this order (`p.id, p.url`). They are named
 * in a LATERAL, so a column the rows are sorted or keyed by is printed only if listed.
 */
interface Printed {
  readonly columns: string;
}

/** The matching rows as a JSON array (`[]` when none): objects of `columns`, or each row's bare `value`. */
export function jsonArray(rows: Rows & { readonly orderBy: string } & (Printed | { readonly value: string })): string {
  const [element, from] =
    'columns' in rows
      ? ['row_to_json(element)', `${rows.from} CROSS JOIN LATERAL (SELECT ${rows.columns}) element`]
      : [rows.value, rows.from];
  return `coalesce((
  SELECT array_to_json(array_agg(${element} ORDER BY ${rows.orderBy}))
  FROM ${from}
  WHERE ${rows.where}
), '${rows.empty ?? '[]'}')`;
}

/**
 * The matching rows as one JSON object (`{}` when none) whose keys are their ids, `"12":{…}`, in
 * id order: a JavaScript client enumerates integer-like keys in ascending order whatever order
 * they arrive in, so any other order would be invisible to it.
 */
export function jsonObjectById(rows: Rows & Printed & { readonly id: string }): string {
  return `coalesce((
  SELECT ('{' || string_agg('"' || ${rows.id} || '":' || row_to_json(element)::text, ',' ORDER BY ${rows.id}) || '}')::json
  FROM ${rows.from} CROSS JOIN LATERAL (SELECT ${rows.columns}) element
  WHERE ${rows.where}
), '${rows.empty ?? '{}'}')`;
}

export interface Page extends Printed {
  readonly table: string;
  readonly alias: string;
  /** Which rows, over `alias`: `r.product_id = $1 AND NOT r.reported`. */
  readonly where: string;
  /** What the page is chosen by: the id and every column `orderBy` names, `r.id, r.date`. */
  readonly keys: string;
  /** Over the names `keys` print: `['date DESC', 'id DESC']`. End with the id, so pages are stable. */
  readonly orderBy: readonly string[];
  /** Parameters, or literals. */
  readonly limit: string;
  readonly offset: string;
}

/**
 * One page of rows as a JSON array of objects (`[]` past the end). The page is chosen over the
 * narrow `keys` alone, which an index on the filter and order holds, so rows skipped over are never
 * read; only the page's own rows are then read whole, by id.
 */
export function jsonPage(page: Page): string {
  const { table, alias, orderBy } = page;
  return `coalesce((
  SELECT array_to_json(array_agg(row_to_json(element) ORDER BY ${orderBy.map((key) => `chosen.${key}`).join(', ')}))
  FROM (
    SELECT ${page.keys}
    FROM ${table} ${alias}
    WHERE ${page.where}
    ORDER BY ${orderBy.join(', ')}
    LIMIT ${page.limit} OFFSET ${page.offset}
  ) chosen
  JOIN ${table} ${alias} ON ${alias}.id = chosen.id
  CROSS JOIN LATERAL (SELECT ${page.columns}) element
), '[]')`;
}
