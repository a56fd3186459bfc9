#!/usr/bin/env bash
# Compares `npm run ingest` with the floor it is held to: psql \copy of the same rows, already
# clean, into the same tables, with the same indexes and constraints built afterwards, in one
# transaction (the same steps the ingest takes, minus parsing and checking).
#
# usage: DATABASE_URL=postgres://… perf/ingest-vs-psql.sh DIR
#   DIR holds the 14 CSV files (npm run generate -- --scale S --out DIR).
#   The database's catalogue tables are overwritten (twice): use a scratch database.
#
# Prints the wall time of each, their ratio, and the ingest's peak RSS (/usr/bin/time -v).
# The clean files are exported from what the ingest loaded (COPY TO, PostgreSQL's CSV), so
# both runs load exactly the same rows.
set -euo pipefail

dir=${1:?usage: DATABASE_URL=… perf/ingest-vs-psql.sh DIR}
: "${DATABASE_URL:?set DATABASE_URL to a scratch database}"
dir=$(cd "$dir" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ingest-vs-psql.XXXXXX")
trap 'rm -rf "$work"' EXIT

tables=(products features styles photos skus related reviews reviews_photos characteristics
  characteristic_reviews questions answers answers_photos cart)
psql_quiet=(psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -X -q)

cd "$root"
npm run build --silent

echo "== ingest of $dir" >&2
/usr/bin/time -v -o "$work/time.txt" node dist/ingest/cli.js --dir "$dir" --rejects "$work/rejects.csv" \
  > "$work/ingest.txt" 2> "$work/ingest-progress.txt"
cat "$work/ingest.txt"
ingest_seconds=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$work/time.txt")
ingest_rss_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")

echo "== exporting the loaded rows as clean CSV" >&2
mkdir "$work/clean"
for table in "${tables[@]}"; do
  "${psql_quiet[@]}" -c "\\copy (SELECT * FROM $table ORDER BY id) TO '$work/clean/$table.csv' WITH (FORMAT csv)"
done

# The same transaction as the ingest: save the definitions, drop them, truncate, COPY FREEZE,
# re-create keys and indexes, refresh the review statistics, re-validate foreign keys, reset the
# identity sequences, commit, analyze.
table_list=$(IFS=,; echo "${tables[*]}")
table_array="{$table_list}"
{
  echo 'BEGIN;'
  echo "SET LOCAL maintenance_work_mem = '1GB';"
  echo "SET LOCAL work_mem = '256MB';"
  echo 'SET LOCAL statement_timeout = 0;'
  echo "LOCK TABLE $table_list IN ACCESS EXCLUSIVE MODE;"
  cat <<SQL
CREATE TEMP TABLE saved_constraints ON COMMIT DROP AS
SELECT c.conname AS name, c.conrelid::regclass::text AS table_name, c.contype AS kind,
       pg_get_constraintdef(c.oid) AS definition
  FROM pg_constraint c
 WHERE (c.contype IN ('p', 'u', 'x') AND c.conrelid = ANY('$table_array'::text[]::regclass[]))
    OR (c.contype = 'f' AND (c.conrelid = ANY('$table_array'::text[]::regclass[])
                             OR c.confrelid = ANY('$table_array'::text[]::regclass[])));
CREATE TEMP TABLE saved_indexes ON COMMIT DROP AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
  FROM pg_index i
 WHERE i.indrelid = ANY('$table_array'::text[]::regclass[])
   AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'));
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', table_name, name) FROM saved_constraints ORDER BY kind <> 'f' \gexec
SELECT format('DROP INDEX %s', name) FROM saved_indexes \gexec
TRUNCATE $table_list;
SQL
  for table in "${tables[@]}"; do
    echo "\\copy $table FROM '$work/clean/$table.csv' WITH (FORMAT csv, FREEZE)"
  done
  cat <<SQL
SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', table_name, name, definition) FROM saved_constraints WHERE kind <> 'f' \gexec
SELECT definition FROM saved_indexes \gexec
SELECT refresh_review_stats();
SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', table_name, name, definition) FROM saved_constraints WHERE kind = 'f' \gexec
SQL
  for table in "${tables[@]}"; do
    echo "SELECT setval(pg_get_serial_sequence('$table', 'id'), coalesce(max(id), 0) + 1, false) FROM $table;"
  done
  echo 'COMMIT;'
  echo "ANALYZE $table_list, review_stats, characteristic_stats;"
} > "$work/baseline.sql"

echo "== psql \\copy baseline" >&2
start=$(date +%s.%N)
"${psql_quiet[@]}" -f "$work/baseline.sql" > /dev/null
end=$(date +%s.%N)
baseline_seconds=$(echo "$end - $start" | bc -l)

printf '\ningest      %8.1f s   (peak RSS %d MiB)\n' "$ingest_seconds" "$((ingest_rss_kb / 1024))"
printf 'psql \\copy %8.1f s\n' "$baseline_seconds"
printf 'ratio       %8.2f\n' "$(echo "$ingest_seconds / $baseline_seconds" | bc -l)"
