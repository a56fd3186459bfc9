/**
 * A cached review list patched by the writes that change it, instead of being dropped and rebuilt:
 * rebuilding a popular product's list costs PostgreSQL milliseconds (it ranks and prints every
 * review), a patch costs the worker microseconds. The API's votes and new reviews notify what
 * they changed (sql/queries/invalidation.ts reviewListPatch): a review's new helpfulness, or the
 * new review printed as lists print it. Anything else that changes a list (a report, a change
 * made in psql, the ingest) still drops it.
 *
 * A patch must leave the body byte for byte what a fresh read would print:
 * - The items are the list's own printed objects, spliced, never re-serialised; a helpfulness
 *   change rewrites the one `"helpfulness":N` member of one item (a `,"` can only be structure:
 *   inside a JSON string a quote is escaped).
 * - The order is the statement's, computed the same way: newest is date then id, helpful is
 *   helpfulness then date then id, relevant is the float8 blend of sql/queries/reviews.ts
 *   (same operations in the same order, so the same doubles) then date then id, all descending.
 *   Dates compared are the printed milliseconds, which is what the API and the ingest store; a
 *   list whose printed order disagrees with that (a date typed in psql with microseconds) is not
 *   patched but dropped.
 * - Only what the body can tell is patched: a helpfulness change on any page of newest; on the
 *   first page of the other sorts when the review is on it (it can only move up), or when the
 *   page holds the product's whole list; a new review on a first page. Otherwise the list is
 *   dropped.
 * - Each list knows the snapshot it was read in (the lists of one batched statement share it: it
 *   read them all), and skips a change its read already saw: a fill can read a write whose
 *   notification has not arrived yet. Patches are idempotent besides (helpfulness only grows; a
 *   review present is not added twice), since the writing worker applies its own write at once
 *   and again when the notification comes.
 */
import { parseSnapshot, seesTransaction, type Snapshot } from '../sql/db/snapshot.js';
import type { Bodies } from '../sql/queries/bodies.js';
import { RELEVANCE_DECAY_SECONDS, relevanceClock, type ReviewSort } from '../sql/queries/reviews.js';
import type { Change, PatchableBody } from './cache.js';
import { encodeBody } from './reply.js';

/** Which list a body is: what its statement was asked for. */
export interface ListShape {
  readonly sort: ReviewSort;
  /** The relevance clock (relevanceClock) the relevant order measured ages from, in ms. */
  readonly clockMs: number;
  readonly page: number;
  readonly count: number;
}

interface Item {
  readonly id: number;
  readonly dateMs: number;
  readonly helpfulness: number;
  /** The item as the list printed it. */
  readonly text: string;
}

interface Parsed {
  readonly head: string;
  readonly items: readonly Item[];
  readonly tail: string;
}

const RESULTS = '"results":[';
const TAIL = ']}';

export class ReviewListBody implements PatchableBody {
  /** Parsed on the first patch; null when the body cannot be patched. */
  private parsed: Parsed | null | undefined;

  private constructor(
    readonly body: Buffer,
    private readonly snapshot: Snapshot | undefined,
    private readonly shape: ListShape,
    parsed?: Parsed,
  ) {
    this.parsed = parsed;
  }

  /** Lists as one statement read them (key → body), with the text of the snapshot it read them in. */
  static read(bodies: Bodies, snapshot: string, shape: ListShape): Map<number, ReviewListBody> {
    const seen = parseSnapshot(snapshot);
    const lists = new Map<number, ReviewListBody>();
    for (const [key, body] of bodies) lists.set(key, new ReviewListBody(encodeBody(body), seen, shape));
    return lists;
  }

  patched(change: Change): PatchableBody | undefined {
    if (this.snapshot === undefined) return undefined;
    if (seesTransaction(this.snapshot, Number(change.token))) return this;
    // A list of an earlier relevance clock is asked for no more.
    const { sort, clockMs, page, count } = this.shape;
    if (sort === 'relevant' && relevanceClock(new Date()).getTime() !== clockMs) return undefined;
    const parsed = this.parse();
    if (parsed === null) return undefined;
    const items = patchItems(parsed.items, change.patch, this.shape);
    if (items === undefined) return undefined;
    if (items === UNCHANGED) return this;
    if (page === 1 && items.length > count) items.length = count;
    const next: Parsed = { head: parsed.head, items, tail: parsed.tail };
    const text = `${parsed.head}${items.map((item) => item.text).join(',')}${parsed.tail}`;
    return new ReviewListBody(encodeBody(text), this.snapshot, this.shape, next);
  }

  private parse(): Parsed | null {
    if (this.parsed === undefined) this.parsed = parseList(this.body.toString(), this.shape.sort, this.shape.clockMs);
    return this.parsed;
  }
}

function parseList(text: string, sort: ReviewSort, clockMs: number): Parsed | null {
  const start = text.indexOf(RESULTS);
  if (start === -1 || !text.endsWith(TAIL)) return null;
  const from = start + RESULTS.length;
  const to = text.length - TAIL.length;
  const items = elements(text, from, to).map(parseItem);
  const order = ORDER[sort](clockMs);
  for (let i = 1; i < items.length; i += 1) if (order(items[i - 1]!, items[i]!) >= 0) return null;
  return { head: text.slice(0, from), items, tail: text.slice(to) };
}

/** The top-level elements of the JSON array whose contents span text[from, to). */
function elements(text: string, from: number, to: number): string[] {
  const found: string[] = [];
  let depth = 0;
  let inString = false;
  let begin = from;
  for (let i = from; i < to; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i += 1;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth += 1;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth -= 1;
    else if (c === COMMA && depth === 0) {
      found.push(text.slice(begin, i));
      begin = i + 1;
    }
  }
  if (to > from) found.push(text.slice(begin, to));
  return found;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function parseItem(text: string): Item {
  const { review_id, date, helpfulness } = JSON.parse(text) as { review_id: number; date: string; helpfulness: number };
  return { id: review_id, dateMs: Date.parse(date), helpfulness, text };
}

/** Negative when `a` is listed before `b`. */
type Order = (a: Item, b: Item) => number;

const byDateThenId: Order = (a, b) => b.dateMs - a.dateMs || b.id - a.id;

const ORDER: Readonly<Record<ReviewSort, (clockMs: number) => Order>> = {
  newest: () => byDateThenId,
  helpful: () => (a, b) => b.helpfulness - a.helpfulness || byDateThenId(a, b),
  relevant: (clockMs) => {
    const relevance = (item: Item): number =>
      item.helpfulness / (1 + Math.max(0, (clockMs - item.dateMs) / 1000) / RELEVANCE_DECAY_SECONDS);
    return (a, b) => {
      const ra = relevance(a);
      const rb = relevance(b);
      return ra === rb ? byDateThenId(a, b) : rb > ra ? 1 : -1;
    };
  },
};

const HELPFUL = /^helpful ((?:\d+:-?\d+)(?:,\d+:-?\d+)*)$/;
const NEW_REVIEW = 'review ';

const UNCHANGED = Symbol('unchanged');

/** The list after `patch` (a new array), UNCHANGED, or undefined when the page cannot tell what it did. */
function patchItems(items: readonly Item[], patch: string, shape: ListShape): Item[] | typeof UNCHANGED | undefined {
  const whole = shape.page === 1 && items.length < shape.count;
  const order = ORDER[shape.sort](shape.clockMs);
  if (patch.startsWith(NEW_REVIEW)) {
    if (shape.page !== 1) return undefined;
    const added = parseItem(patch.slice(NEW_REVIEW.length));
    if (items.some((item) => item.id === added.id)) return UNCHANGED;
    const at = items.findIndex((item) => order(added, item) < 0);
    if (at === -1 && !whole) return UNCHANGED;
    const next = [...items];
    next.splice(at === -1 ? next.length : at, 0, added);
    return next;
  }
  const votes = HELPFUL.exec(patch);
  if (votes === null) return undefined;
  let next: Item[] | undefined;
  for (const vote of votes[1]!.split(',')) {
    const [id, helpfulness] = vote.split(':').map(Number) as [number, number];
    const at = (next ?? items).findIndex((item) => item.id === id);
    if (at === -1) {
      // Absent from a page that is not the whole list, it may belong on it now.
      if (shape.sort !== 'newest' && !whole) return undefined;
      continue;
    }
    const item = (next ?? items)[at]!;
    if (item.helpfulness >= helpfulness) continue;
    // On a later page of a ranked sort it may move to an earlier one.
    if (shape.sort !== 'newest' && shape.page !== 1) return undefined;
    next ??= [...items];
    next[at] = {
      ...item,
      helpfulness,
      text: item.text.replace(`,"helpfulness":${item.helpfulness},`, `,"helpfulness":${helpfulness},`),
    };
  }
  if (next === undefined) return UNCHANGED;
  if (shape.sort !== 'newest') next.sort(order);
  return next;
}
