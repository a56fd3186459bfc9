-- One cart store for both legacy cart forms (atelier-api.md § Cart). cart.csv fills it with v1
-- rows (a user_session, a product, active); POST /cart adds to the same table, so each form
-- reads what the other wrote instead of two stores drifting apart.
--
-- - owner_hash: sha256 of the caller's Authorization value (v2 carts). The worker hashes it
--   (server/routes/cart.ts), so the token itself never reaches the database, its statement log
--   or a dump. Every row has exactly one owner: the hash, or a user_session (cart.csv rows, v1
--   adds, and v2 adds sent without Authorization), hence user_session loses NOT NULL and gains
--   the CHECK.
-- - sku_id: the sku a v2 add names; null on v1 rows, which name only a product. product_id stays
--   NOT NULL: a v2 add stores its sku's product, so a v1 read of that user_session lists it too.
-- - No timestamp: "ordered by first addition" is id order. Each add of one owner waits for its
--   201 before the next, and the identity sequence (moved past the loaded ids by the ingest)
--   hands ids out in that order; concurrent adds of one owner have no order to keep.
--
-- The ingest copies only the CSV's four columns, so loaded rows have no hash and no sku. As with
-- every table, reloading cart.csv replaces the whole store, rows added through the API included.

ALTER TABLE cart
  ALTER COLUMN user_session DROP NOT NULL,
  ADD COLUMN owner_hash bytea,
  ADD COLUMN sku_id integer REFERENCES skus (id),
  ADD CONSTRAINT cart_one_owner CHECK (num_nonnulls(owner_hash, user_session) = 1);

-- Each cart read is one range scan in id order; most rows (every loaded one) have no hash.
CREATE INDEX cart_owner ON cart (owner_hash, id) WHERE owner_hash IS NOT NULL;
CREATE INDEX cart_session ON cart (user_session, id);
