/**
 * Field validators for JSON request bodies. Each returns the valid value or throws an ApiError
 * whose 422 names the field and what it must be, so a body parser reads as a list of fields in
 * the contract's order and the first failing one is the one reported.
 */
import { ApiError, ERRORS, invalidField } from './errors.js';
import { MAX_ID, MAX_PHOTOS, MAX_URL_LENGTH } from './limits.js';

// One @, no spaces, and a dot in the domain: what a mail form accepts, not RFC 5322's every corner.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

/** The body's fields; 422 unless the body is a JSON object. Unknown fields are left for the caller to ignore. */
export function jsonObject(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ApiError(ERRORS.notAnObject);
  return input as Record<string, unknown>;
}

/** A string of `min` to `max` characters. */
export function text(fields: Record<string, unknown>, field: string, min: number, max: number): string {
  const value = fields[field];
  // Characters are code points, as PostgreSQL's char_length counts them, not UTF-16 units.
  const length = typeof value === 'string' ? [...value].length : -1;
  if (typeof value !== 'string' || length < min || length > max) {
    throw new ApiError(invalidField.text(field, min, max));
  }
  // PostgreSQL text cannot hold U+0000: it would fail the insert instead of answering 422.
  if (value.includes('\0')) throw new ApiError(invalidField.textWithNul(field));
  return value;
}

/** A string of 1 to 60 characters that looks like an email address. */
export function email(fields: Record<string, unknown>, field = 'email'): string {
  const value = text(fields, field, 1, 60);
  if (!EMAIL.test(value)) throw new ApiError(invalidField.email(field));
  return value;
}

/** A JSON integer naming a row: 1 to 2^31-1 (a PostgreSQL integer). */
export function id(fields: Record<string, unknown>, field: string): number {
  const value = fields[field];
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_ID) {
    throw new ApiError(invalidField.id(field));
  }
  return value as number;
}

// Form values arrive as strings and the legacy API let PostgreSQL cast them; only the canonical
// spelling is taken ("5", not "05", "5.0" or " 5"), so one id has one spelling.
const CANONICAL_INTEGER = /^[1-9][0-9]*$/;

/** A row id given as a JSON integer or its canonical decimal string, 1 to 2^31-1; else undefined. */
export function idOrIdString(value: unknown): number | undefined {
  const number = typeof value === 'string' && CANONICAL_INTEGER.test(value) ? Number(value) : value;
  return Number.isInteger(number) && (number as number) >= 1 && (number as number) <= MAX_ID
    ? (number as number)
    : undefined;
}

/** Like id(), but a canonical decimal string ("5") is taken too. */
export function lenientId(fields: Record<string, unknown>, field: string): number {
  const value = idOrIdString(fields[field]);
  if (value === undefined) throw new ApiError(invalidField.idOrIdString(field));
  return value;
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > MAX_URL_LENGTH || value.includes('\0')) return false;
  if (!URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}

/** Up to MAX_PHOTOS http(s) URLs; an absent field is no photos. */
export function photoUrls(fields: Record<string, unknown>, field = 'photos'): string[] {
  const value = fields[field];
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_PHOTOS || !value.every(isHttpUrl)) {
    throw new ApiError(invalidField.photos(field));
  }
  return value;
}
