/**
 * What each legacy CSV file holds and how its columns land in PostgreSQL (atelier-data.md,
 * sql/migrations/001_catalogue.sql). The order of TABLES is the load order: parents first.
 */

/**
 * How a CSV value is checked and written, which fixes the column's PostgreSQL type (binary
 * COPY sends exact types): id, ref and int are integer, rating is a smallint from 1 to 5, price
 * numeric, bool boolean, text text, timestamp timestamptz. Ids and refs also feed the main
 * thread's id checks.
 */
export type ColumnKind =
  | { readonly type: 'id' }
  | { readonly type: 'ref'; readonly parent: TableName }
  | { readonly type: 'int' }
  | { readonly type: 'rating' }
  | { readonly type: 'price'; readonly nullable: boolean }
  | { readonly type: 'bool' }
  | { readonly type: 'text'; readonly nullable: boolean }
  | { readonly type: 'timestamp' };

export interface Column {
  /** Name in the CSV header. */
  readonly header: string;
  /** Name in the table. */
  readonly name: string;
  readonly kind: ColumnKind;
}

export interface TableSpec {
  readonly file: string;
  readonly table: TableName;
  /** In table order; COPY lists them in this order. */
  readonly columns: readonly Column[];
  /**
   * Two ref columns that form a pair: a row pairing a product with itself, or repeating an
   * earlier pair, is rejected (related.csv).
   */
  readonly distinctPair?: readonly [string, string];
}

export type TableName =
  | 'products'
  | 'features'
  | 'styles'
  | 'photos'
  | 'skus'
  | 'related'
  | 'reviews'
  | 'reviews_photos'
  | 'characteristics'
  | 'characteristic_reviews'
  | 'questions'
  | 'answers'
  | 'answers_photos'
  | 'cart';

const id: ColumnKind = { type: 'id' };
const int: ColumnKind = { type: 'int' };
const rating: ColumnKind = { type: 'rating' };
const text: ColumnKind = { type: 'text', nullable: false };
const optionalText: ColumnKind = { type: 'text', nullable: true };
const bool: ColumnKind = { type: 'bool' };
const timestamp: ColumnKind = { type: 'timestamp' };
const ref = (parent: TableName): ColumnKind => ({ type: 'ref', parent });

function column(header: string, kind: ColumnKind, name = header): Column {
  return { header, name, kind };
}

export const TABLES: readonly TableSpec[] = [
  {
    file: 'product.csv',
    table: 'products',
    columns: [
      column('id', id),
      column('name', text),
      column('slogan', text),
      column('description', text),
      column('category', text),
      column('default_price', { type: 'price', nullable: false }),
    ],
  },
  {
    file: 'features.csv',
    table: 'features',
    columns: [
      column('id', id),
      column('product_id', ref('products')),
      column('feature', text),
      column('value', optionalText),
    ],
  },
  {
    file: 'styles.csv',
    table: 'styles',
    columns: [
      column('id', id),
      column('productId', ref('products'), 'product_id'),
      column('name', text),
      column('sale_price', { type: 'price', nullable: true }),
      column('original_price', { type: 'price', nullable: false }),
      column('default_style', bool),
    ],
  },
  {
    file: 'photos.csv',
    table: 'photos',
    columns: [
      column('id', id),
      column('styleId', ref('styles'), 'style_id'),
      column('url', optionalText),
      column('thumbnail_url', optionalText),
    ],
  },
  {
    file: 'skus.csv',
    table: 'skus',
    columns: [
      column('id', id),
      column('styleId', ref('styles'), 'style_id'),
      column('size', text),
      column('quantity', int),
    ],
  },
  {
    file: 'related.csv',
    table: 'related',
    columns: [
      column('id', id),
      column('current_product_id', ref('products')),
      column('related_product_id', ref('products')),
    ],
    distinctPair: ['current_product_id', 'related_product_id'],
  },
  {
    file: 'reviews.csv',
    table: 'reviews',
    columns: [
      column('id', id),
      column('product_id', ref('products')),
      column('rating', rating),
      column('date', timestamp),
      column('summary', text),
      column('body', text),
      column('recommend', bool),
      column('reported', bool),
      column('reviewer_name', text),
      column('reviewer_email', text),
      column('response', optionalText),
      column('helpfulness', int),
    ],
  },
  {
    file: 'reviews_photos.csv',
    table: 'reviews_photos',
    columns: [column('id', id), column('review_id', ref('reviews')), column('url', text)],
  },
  {
    file: 'characteristics.csv',
    table: 'characteristics',
    columns: [column('id', id), column('product_id', ref('products')), column('name', text)],
  },
  {
    file: 'characteristic_reviews.csv',
    table: 'characteristic_reviews',
    columns: [
      column('id', id),
      column('characteristic_id', ref('characteristics')),
      column('review_id', ref('reviews')),
      column('value', rating),
    ],
  },
  {
    file: 'questions.csv',
    table: 'questions',
    columns: [
      column('id', id),
      column('product_id', ref('products')),
      column('body', text),
      column('date_written', timestamp),
      column('asker_name', text),
      column('asker_email', text),
      column('reported', bool),
      column('helpful', int),
    ],
  },
  {
    file: 'answers.csv',
    table: 'answers',
    columns: [
      column('id', id),
      column('question_id', ref('questions')),
      column('body', text),
      column('date_written', timestamp),
      column('answerer_name', text),
      column('answerer_email', text),
      column('reported', bool),
      column('helpful', int),
    ],
  },
  {
    file: 'answers_photos.csv',
    table: 'answers_photos',
    columns: [column('id', id), column('answer_id', ref('answers')), column('url', text)],
  },
  {
    file: 'cart.csv',
    table: 'cart',
    columns: [
      column('id', id),
      column('user_session', int),
      column('product_id', ref('products')),
      column('active', bool),
    ],
  },
];

export function tableSpec(table: string): TableSpec {
  const spec = TABLES.find((candidate) => candidate.table === table);
  if (!spec) throw new Error(`no table spec for ${table}`);
  return spec;
}

/**
 * The columns whose integer values the main thread checks against id sets: the id first, then
 * every ref in column order. Workers write these per row, in this order.
 */
export function keyColumns(spec: TableSpec): readonly Column[] {
  return spec.columns.filter((c) => c.kind.type === 'id' || c.kind.type === 'ref');
}

/**
 * Tables the review statistics (002_review_stats.sql) are computed from. Reloading products or
 * characteristics alone leaves them right: the statistics' foreign keys are re-validated, and
 * any stale row would have to belong to a review whose own foreign key fails first.
 */
export const REVIEW_STATS_SOURCES: ReadonlySet<TableName> = new Set(['reviews', 'characteristic_reviews']);

/** The PostgreSQL type (information_schema data_type) each kind writes in binary COPY. */
export const SQL_TYPES: Readonly<Record<ColumnKind['type'], string>> = {
  id: 'integer',
  ref: 'integer',
  int: 'integer',
  rating: 'smallint',
  price: 'numeric',
  bool: 'boolean',
  text: 'text',
  timestamp: 'timestamp with time zone',
};
