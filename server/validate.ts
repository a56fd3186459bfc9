/**
 * JSON request bodies, each declared once as a table of fields in the contract's order. The one
 * table both parses a body (the first failing field is the one its 422 names) and gives the
 * body's JSON Schema for the OpenAPI document (server/openapi.ts), so the two cannot disagree;
 * test/openapi.test.ts also runs generated cases through both.
 */
import { ApiError, ERRORS, invalidField } from './errors.js';
import { MAX_ID, MAX_PHOTOS, MAX_URL_LENGTH } from './limits.js';
import type { Reply } from './reply.js';

/** A JSON Schema (2020-12, as OpenAPI 3.1 uses it). */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** One body field: how it is read, and the schema of every value it accepts. */
export interface Field<T> {
  /** The field's value, or throws its 422; `value` is undefined when the field is absent. */
  read(value: unknown, field: string): T;
  readonly schema: JsonSchema;
  /** Whether an absent field is refused. */
  readonly required: boolean;
}

type FieldValues<F> = { readonly [K in keyof F]: F[K] extends Field<infer T> ? T : never };

/** A body: its fields checked in declaration order, unknown fields ignored. */
export interface Body<T> {
  parse(input: unknown): T;
  readonly schema: JsonSchema;
}

export function body<F extends Record<string, Field<unknown>>>(fields: F): Body<FieldValues<F>> {
  const entries = Object.entries(fields);
  return {
    parse(input) {
      const values = jsonObject(input);
      const parsed: Record<string, unknown> = {};
      for (const [name, field] of entries) parsed[name] = field.read(values[name], name);
      return parsed as FieldValues<F>;
    },
    schema: {
      type: 'object',
      required: entries.filter(([, field]) => field.required).map(([name]) => name),
      properties: Object.fromEntries(entries.map(([name, field]) => [name, field.schema])),
    },
  };
}

/** The body's fields; 422 unless the body is a JSON object. */
export function jsonObject(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ApiError(ERRORS.notAnObject);
  return input as Record<string, unknown>;
}

// Form values arrive as strings and the legacy API let PostgreSQL cast them; only the canonical
// spelling is taken ("5", not "05", "5.0", "+5" or " 5"), so one number has one spelling.
const CANONICAL_INTEGER = /^[1-9][0-9]*$/;

/** An integer from 1 to `max` given as a JSON number or its canonical decimal string; else undefined. */
export function integerOrString(value: unknown, max: number): number | undefined {
  const number = typeof value === 'string' && CANONICAL_INTEGER.test(value) ? Number(value) : value;
  return Number.isInteger(number) && (number as number) >= 1 && (number as number) <= max
    ? (number as number)
    : undefined;
}

/** A row id (1 to 2^31-1) as a JSON number or canonical decimal string; else undefined. */
export function idOrIdString(value: unknown): number | undefined {
  return integerOrString(value, MAX_ID);
}

/**
 * A regular expression source matching the canonical decimals from 1 to `max`: the numbers with
 * fewer digits, then those of max's length, smaller at some digit after a common prefix.
 */
export function decimalPattern(max: number): string {
  const digits = String(max);
  const shorter = digits.length > 1 ? [`[1-9][0-9]{0,${digits.length - 2}}`] : [];
  const smaller = [...digits].flatMap((digit, position) => {
    const lowest = position === 0 ? 1 : 0;
    if (Number(digit) <= lowest) return [];
    const rest = digits.length - position - 1;
    return [`${digits.slice(0, position)}[${lowest}-${Number(digit) - 1}]${rest > 0 ? `[0-9]{${rest}}` : ''}`];
  });
  return `^(?:${[...shorter, ...smaller, digits].join('|')})$`;
}

/** The schema of integer(max): a JSON integer or a canonical decimal string, 1 to `max`. */
export function integerSchema(max: number): JsonSchema {
  return {
    anyOf: [
      { type: 'integer', minimum: 1, maximum: max },
      { type: 'string', pattern: decimalPattern(max) },
    ],
  };
}

/** An integer from 1 to `max`, also as its canonical decimal string; `error` is its 422. */
export function integer(max: number, error: Reply): Field<number> {
  const refused = new ApiError(error);
  return {
    read(value) {
      const number = integerOrString(value, max);
      if (number === undefined) throw refused;
      return number;
    },
    schema: integerSchema(max),
    required: true,
  };
}

/** A row id, 1 to 2^31-1, also as its canonical decimal string. */
export function id(error: (field: string) => Reply = invalidField.id): Field<number> {
  return {
    read(value, field) {
      const number = idOrIdString(value);
      if (number === undefined) throw new ApiError(error(field));
      return number;
    },
    schema: integerSchema(MAX_ID),
    required: true,
  };
}

/** true or false, also as the strings "true" and "false"; `error` is its 422. */
export function boolean(error: Reply): Field<boolean> {
  const refused = new ApiError(error);
  return {
    read(value) {
      if (value === true || value === 'true') return true;
      if (value === false || value === 'false') return false;
      throw refused;
    },
    schema: { anyOf: [{ type: 'boolean' }, { type: 'string', enum: ['true', 'false'] }] },
    required: true,
  };
}

// PostgreSQL text cannot hold U+0000: it would fail the insert instead of answering 422.
const WITHOUT_NUL = '^[^\\u0000]*$';
// Half of a UTF-16 pair (JSON can spell one as \ud800), which no UTF-8 text can hold: PostgreSQL
// would store U+FFFD in its place. A whole pair is one code point, outside this class.
const LONE_SURROGATE = /\p{Cs}/u;

/** A string of `min` to `max` characters. */
export function text(min: number, max: number): Field<string> {
  return {
    read(value, field) {
      // Characters are code points, as PostgreSQL's char_length (and JSON Schema) counts them.
      const length = typeof value === 'string' ? [...value].length : -1;
      if (typeof value !== 'string' || length < min || length > max) {
        throw new ApiError(invalidField.text(field, min, max));
      }
      if (value.includes('\0')) throw new ApiError(invalidField.textWithNul(field));
      if (LONE_SURROGATE.test(value)) throw new ApiError(invalidField.textWithLoneSurrogate(field));
      return value;
    },
    schema: { type: 'string', minLength: min, maxLength: max, pattern: WITHOUT_NUL },
    required: true,
  };
}

/** `field`, or `absent` when the body leaves it out. */
export function optional<T>(field: Field<T>, absent: T): Field<T> {
  return {
    read: (value, name) => (value === undefined ? absent : field.read(value, name)),
    schema: field.schema,
    required: false,
  };
}

// One @, no spaces, and a dot in the domain: what a mail form accepts, not RFC 5322's every corner.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
const EMAIL_FIELD = text(1, 60);

/** A string of 1 to 60 characters that looks like an email address. */
export function email(): Field<string> {
  return {
    read(value, field) {
      const address = EMAIL_FIELD.read(value, field);
      if (!EMAIL.test(address)) throw new ApiError(invalidField.email(field));
      return address;
    },
    schema: { ...EMAIL_FIELD.schema, pattern: `^(?=[^\\u0000]*$)${EMAIL.source.slice(1)}` },
    required: true,
  };
}

function isHttpUrl(value: unknown): value is string {
  if (
    typeof value !== 'string' ||
    value.length > MAX_URL_LENGTH ||
    value.includes('\0') ||
    LONE_SURROGATE.test(value)
  ) {
    return false;
  }
  if (!URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}

/** Up to MAX_PHOTOS http(s) URLs; an absent field is no photos. */
export function photoUrls(): Field<string[]> {
  return {
    read(value, field) {
      if (value === undefined) return [];
      if (!Array.isArray(value) || value.length > MAX_PHOTOS || !value.every(isHttpUrl)) {
        throw new ApiError(invalidField.photos(field));
      }
      return value;
    },
    schema: {
      type: 'array',
      maxItems: MAX_PHOTOS,
      // The WHATWG URL parser decides; the schema states the scheme, the length and the format.
      items: { type: 'string', format: 'uri', maxLength: MAX_URL_LENGTH, pattern: '^[Hh][Tt][Tt][Pp][Ss]?:' },
    },
    required: false,
  };
}
