/** How every API date is printed: ISO-8601 UTC with milliseconds, "2020-07-30T03:41:21.467Z". */
export function isoDate(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}
