-- Pre-aggregated review statistics for GET /reviews/meta, so meta costs one index lookup per
-- product instead of a scan over every review and characteristic rating of it. Only
-- non-reported reviews count. Writes that add or report a review adjust these rows in the same
-- transaction; the ingest rebuilds them with refresh_review_stats() after a load.

CREATE TABLE review_stats (
  product_id        integer PRIMARY KEY REFERENCES products (id),
  rating_1          integer NOT NULL DEFAULT 0,
  rating_2          integer NOT NULL DEFAULT 0,
  rating_3          integer NOT NULL DEFAULT 0,
  rating_4          integer NOT NULL DEFAULT 0,
  rating_5          integer NOT NULL DEFAULT 0,
  recommended_true  integer NOT NULL DEFAULT 0,
  recommended_false integer NOT NULL DEFAULT 0
);

-- avg(value) over integers is sum::numeric / count, so keeping both reproduces PostgreSQL's
-- avg() text exactly ("3.2000000000000000").
CREATE TABLE characteristic_stats (
  characteristic_id integer PRIMARY KEY REFERENCES characteristics (id),
  rating_sum        bigint  NOT NULL DEFAULT 0,
  rating_count      integer NOT NULL DEFAULT 0
);

CREATE FUNCTION refresh_review_stats() RETURNS void LANGUAGE sql AS $$
  TRUNCATE review_stats, characteristic_stats;
  INSERT INTO review_stats
  SELECT product_id,
         count(*) FILTER (WHERE rating = 1),
         count(*) FILTER (WHERE rating = 2),
         count(*) FILTER (WHERE rating = 3),
         count(*) FILTER (WHERE rating = 4),
         count(*) FILTER (WHERE rating = 5),
         count(*) FILTER (WHERE recommend),
         count(*) FILTER (WHERE NOT recommend)
    FROM reviews
   WHERE NOT reported
   GROUP BY product_id;
  INSERT INTO characteristic_stats
  SELECT cr.characteristic_id, sum(cr.value), count(*)
    FROM characteristic_reviews cr
    JOIN reviews r ON r.id = cr.review_id
   WHERE NOT r.reported
   GROUP BY cr.characteristic_id;
$$;
