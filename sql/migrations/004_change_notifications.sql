-- Every committed change to the catalogue, review and Q&A tables notifies the products it touched,
-- whoever made it: the API, an inventory feed, a price update typed into psql. Each worker LISTENs
-- (server/invalidation.ts) and drops exactly those products' cached bodies of the kinds the table
-- feeds, so a storefront never shows a stale price or stock level for longer than the
-- notification takes to arrive.
--
-- Statement-level triggers with transition tables: one trigger run per statement, however many
-- rows it changed, so a 100,000-row UPDATE costs one pass over its changed rows and sends one
-- notification per 700 distinct products (a payload must stay under 8,000 bytes), not one per
-- row. Notifications are delivered at COMMIT and not at all on ROLLBACK, and PostgreSQL folds
-- identical payloads of one transaction into one.
--
-- The payload is "<transaction id> <kind>[,<kind>…] <product id>[,<product id>…]" on the channel
-- atelier_invalidate (INVALIDATION_CHANNEL, sql/queries/invalidation.ts).
--
-- The API's own write statements notify from inside themselves, with the exact kinds they
-- changed, and set atelier.notified for their transaction: the triggers then return at once
-- (checked when they run, at the end of the statement, after the write's own notification), so
-- an API write pays only for its rows' transition tables and the trigger calls.
--
-- The ingest, which replaces whole tables, disables these triggers inside its transaction and
-- sends 'all' instead (ingest/ingest.ts).

CREATE FUNCTION notify_changed_products() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  -- TG_ARGV[0]: the kinds of cached body the table feeds, e.g. 'review-lists,review-meta'.
  -- TG_ARGV[1]: how a changed row leads to its product (see the CASE below).
  -- TG_ARGV[2], TG_ARGV[3] (UPDATE only, optional): when the statement changed no column but
  -- TG_ARGV[2], the narrower kinds TG_ARGV[3] (a helpful vote reorders review lists and leaves
  -- the ratings alone).
  kinds text := TG_ARGV[0];
  changed text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT * FROM new_rows'
    WHEN 'DELETE' THEN 'SELECT * FROM old_rows'
    ELSE 'SELECT * FROM new_rows UNION ALL SELECT * FROM old_rows'
  END;
  products text;
BEGIN
  IF current_setting('atelier.notified', true) = 'on' THEN
    RETURN NULL;
  END IF;
  products := CASE TG_ARGV[1]
    WHEN 'id' THEN format('SELECT c.id AS product_id FROM (%s) c', changed)
    WHEN 'product_id' THEN format('SELECT c.product_id FROM (%s) c', changed)
    WHEN 'current_product_id' THEN format('SELECT c.current_product_id AS product_id FROM (%s) c', changed)
    WHEN 'style' THEN format('SELECT s.product_id FROM (%s) c JOIN styles s ON s.id = c.style_id', changed)
    WHEN 'review' THEN format('SELECT r.product_id FROM (%s) c JOIN reviews r ON r.id = c.review_id', changed)
    WHEN 'characteristic' THEN
      format('SELECT k.product_id FROM (%s) c JOIN characteristics k ON k.id = c.characteristic_id', changed)
    WHEN 'question' THEN format('SELECT q.product_id FROM (%s) c JOIN questions q ON q.id = c.question_id', changed)
    WHEN 'answer' THEN format(
      'SELECT q.product_id FROM (%s) c JOIN answers a ON a.id = c.answer_id JOIN questions q ON q.id = a.question_id',
      changed)
  END;
  IF products IS NULL THEN
    RAISE EXCEPTION 'notify_changed_products: unknown path % on %', TG_ARGV[1], TG_TABLE_NAME;
  END IF;
  IF TG_OP = 'UPDATE' AND TG_NARGS = 4 THEN
    EXECUTE format(
      'SELECT CASE WHEN EXISTS (SELECT FROM new_rows n JOIN old_rows o USING (id)
                                 WHERE to_jsonb(n) - %1$L IS DISTINCT FROM to_jsonb(o) - %1$L)
                   THEN %2$L ELSE %3$L END',
      TG_ARGV[2], kinds, TG_ARGV[3]) INTO kinds;
  END IF;
  EXECUTE format(
    $q$SELECT pg_notify('atelier_invalidate', pg_current_xact_id()::text || ' ' || %L || ' ' || ids)
         FROM (SELECT string_agg(product_id::text, ',' ORDER BY product_id) AS ids
                 FROM (SELECT product_id, (row_number() OVER (ORDER BY product_id) - 1) / 700 AS chunk
                         FROM (SELECT DISTINCT product_id FROM (%s) p) distinct_products) numbered
                GROUP BY chunk) chunks$q$,
    kinds, products);
  RETURN NULL;
END
$$;

-- One trigger per table and event: PostgreSQL allows transition tables only on a trigger of one
-- event. review_stats and characteristic_stats have none: they are derived from reviews and
-- characteristic_reviews, whose own changes notify the same bodies, and are written only
-- alongside them (the API's writes, refresh_review_stats()), so triggers there would only add
-- four calls to every review the API creates.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT * FROM (VALUES
    ('products', 'product', 'id', NULL, NULL),
    ('features', 'product', 'product_id', NULL, NULL),
    ('styles', 'styles', 'product_id', NULL, NULL),
    ('photos', 'styles', 'style', NULL, NULL),
    ('skus', 'styles', 'style', NULL, NULL),
    ('related', 'related', 'current_product_id', NULL, NULL),
    ('reviews', 'review-lists,review-meta', 'product_id', 'helpfulness', 'review-lists'),
    ('reviews_photos', 'review-lists', 'review', NULL, NULL),
    ('characteristics', 'review-meta', 'product_id', NULL, NULL),
    ('characteristic_reviews', 'review-meta', 'review', NULL, NULL),
    ('questions', 'qa', 'product_id', NULL, NULL),
    ('answers', 'qa', 'question', NULL, NULL),
    ('answers_photos', 'qa', 'answer', NULL, NULL)
  ) AS v (tbl, kinds, path, narrow_column, narrow_kinds)
  LOOP
    EXECUTE format(
      'CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows
         FOR EACH STATEMENT EXECUTE FUNCTION notify_changed_products(%L, %L)',
      t.tbl || '_notify_insert', t.tbl, t.kinds, t.path);
    EXECUTE format(
      'CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
         FOR EACH STATEMENT EXECUTE FUNCTION notify_changed_products(%s)',
      t.tbl || '_notify_update', t.tbl,
      concat_ws(', ', quote_literal(t.kinds), quote_literal(t.path),
                quote_literal(t.narrow_column), quote_literal(t.narrow_kinds)));
    EXECUTE format(
      'CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows
         FOR EACH STATEMENT EXECUTE FUNCTION notify_changed_products(%L, %L)',
      t.tbl || '_notify_delete', t.tbl, t.kinds, t.path);
  END LOOP;
END
$$;

-- A TRUNCATE outside the ingest empties a table whole: every cached body may be wrong.
CREATE FUNCTION notify_everything_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('atelier_invalidate', 'all');
  RETURN NULL;
END
$$;

DO $$
DECLARE
  tbl text;
BEGIN
  FOREACH tbl IN ARRAY ARRAY['products', 'features', 'styles', 'photos', 'skus', 'related', 'reviews',
                             'reviews_photos', 'characteristics', 'characteristic_reviews', 'questions',
                             'answers', 'answers_photos']
  LOOP
    EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION notify_everything_changed()',
                   tbl || '_notify_truncate', tbl);
  END LOOP;
END
$$;
