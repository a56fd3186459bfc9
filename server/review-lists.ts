/**
 * A cached review list patched by the writes that change it, instead of being dropped and rebuilt:
 * rebuilding a popular product's list costs PostgreSQL milliseconds (it ranks and prints every
 * review), a patch costs the worker microseconds. The API's votes and new reviews notify what
 * they changed (sql/queries/invalidation.ts reviewListPatch): a review's new helpfulness, or the
 * new review printed as lists print it. Anything else that changes a list (a report, a change
 * made in psql, the ingest) still drops it.
 *
 * A patch must leave the body byte for byte what a fresh read would print:
 * - The items are the list's own printed bytes, spliced, never re-serialised or re-encoded: a
 *   patched body is a copy of its pieces into a new buffer (a run of items that were side by side
 *   is one copy), and its items are then ranges of that buffer, so no earlier body stays alive
 *   through them. A helpfulness change rewrites the one `"helpfulness":N` member of one item (a
 *   `,"` can only be structure: inside a JSON string a quote is escaped). Bytes, not strings:
 *   joining and re-encoding the list's text made a vote's patch of a 200-review list cost 815 µs
 *   of worker CPU, the byte copy costs 67 µs (docs/benchmarks.md § Byte patches).
 * - The order is the statement's, computed the same way: newest is date then id, helpful is
 *   helpfulness then date then id, relevant is the float8 blend of sql/queries/reviews.ts
 *   (same operations in the same order, so the same doubles) then date then id, all descending.
 *   Each item's first key (its rank) is computed once, when it is parsed or changed.
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
  /** The sort's first key: the relevance, the helpfulness, or 0 for newest (RANK). */
  readonly rank: number;
  /** The item as the list printed it, UTF-8: source[start, end). */
  readonly source: Buffer;
  readonly start: number;
  readonly end: number;
}

/** A body as its head (up to the results' first item), its items and its tail. */
interface Parsed {
  readonly body: Buffer;
  readonly headEnd: number;
  readonly tailStart: number;
  readonly items: readonly Item[];
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
    const next = assemble(parsed, items);
    return new ReviewListBody(next.body, this.snapshot, this.shape, next);
  }

  private parse(): Parsed | null {
    this.parsed ??= parseList(this.body, this.shape);
    return this.parsed;
  }
}

/**
 * `from`'s head and tail around `items`, comma-separated, in a buffer of its own (allocUnsafeSlow,
 * as encodeBody does, so that a cached body pins no shared pool slab), the items as its ranges.
 */
function assemble(from: Parsed, items: readonly Item[]): Parsed {
  const tailLength = from.body.length - from.tailStart;
  let length = from.headEnd + Math.max(0, items.length - 1) + tailLength;
  for (const item of items) length += item.end - item.start;
  const body = Buffer.allocUnsafeSlow(length);
  let at = from.body.copy(body, 0, 0, from.headEnd);
  const placed: Item[] = [];
  for (let first = 0; first < items.length; ) {
    // Items that were printed side by side are copied at once, with the commas between them.
    let last = first;
    while (
      last + 1 < items.length &&
      items[last + 1]!.source === items[first]!.source &&
      items[last + 1]!.start === items[last]!.end + 1
    ) {
      last += 1;
    }
    if (first > 0) body[at++] = COMMA;
    const shift = at - items[first]!.start;
    at += items[first]!.source.copy(body, at, items[first]!.start, items[last]!.end);
    for (let index = first; index <= last; index += 1) {
      const item = items[index]!;
      placed.push(itemAt(item, body, item.start + shift, item.end + shift));
    }
    first = last + 1;
  }
  from.body.copy(body, at, from.tailStart);
  return { body, headEnd: from.headEnd, tailStart: length - tailLength, items: placed };
}

function itemAt(item: Item, source: Buffer, start: number, end: number): Item {
  return { id: item.id, dateMs: item.dateMs, helpfulness: item.helpfulness, rank: item.rank, source, start, end };
}

function parseList(body: Buffer, shape: ListShape): Parsed | null {
  const start = body.indexOf(RESULTS);
  const tailStart = body.length - TAIL.length;
  if (start === -1 || tailStart < 0 || body.toString('latin1', tailStart) !== TAIL) return null;
  const headEnd = start + RESULTS.length;
  const rank = RANK[shape.sort](shape.clockMs);
  const items = elements(body, headEnd, tailStart).map(([from, to]) => parseItem(body, from, to, rank));
  for (let i = 1; i < items.length; i += 1) if (listedBefore(items[i - 1]!, items[i]!) >= 0) return null;
  return { body, headEnd, tailStart, items };
}

/**
 * The [start, end) of each top-level element of the JSON array whose contents span bytes[from, to).
 * UTF-8 is safe to scan bytewise: every byte of a multi-byte character is 0x80 or above, so none
 * is mistaken for a quote, a backslash, a bracket or a comma.
 */
function elements(bytes: Buffer, from: number, to: number): [number, number][] {
  const found: [number, number][] = [];
  let depth = 0;
  let inString = false;
  let begin = from;
  for (let i = from; i < to; i += 1) {
    const c = bytes[i]!;
    if (inString) {
      if (c === BACKSLASH) i += 1;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth += 1;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth -= 1;
    else if (c === COMMA && depth === 0) {
      found.push([begin, i]);
      begin = i + 1;
    }
  }
  if (to > from) found.push([begin, to]);
  return found;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function parseItem(source: Buffer, start: number, end: number, rank: Rank): Item {
  const { review_id, date, helpfulness } = JSON.parse(source.toString('utf8', start, end)) as {
    review_id: number;
    date: string;
    helpfulness: number;
  };
  const dateMs = Date.parse(date);
  return { id: review_id, dateMs, helpfulness, rank: rank(helpfulness, dateMs), source, start, end };
}

/** An item's first sort key, from its helpfulness and date. */
type Rank = (helpfulness: number, dateMs: number) => number;

const RANK: Readonly<Record<ReviewSort, (clockMs: number) => Rank>> = {
  newest: () => () => 0,
  helpful: () => (helpfulness) => helpfulness,
  relevant: (clockMs) => (helpfulness, dateMs) =>
    helpfulness / (1 + Math.max(0, (clockMs - dateMs) / 1000) / RELEVANCE_DECAY_SECONDS),
};

/** Negative when `a` is listed before `b`: rank, then date, then id, all descending. */
function listedBefore(a: Item, b: Item): number {
  if (a.rank !== b.rank) return b.rank > a.rank ? 1 : -1;
  return b.dateMs - a.dateMs || b.id - a.id;
}

const HELPFUL = /^helpful ((?:\d+:-?\d+)(?:,\d+:-?\d+)*)$/;
const NEW_REVIEW = 'review ';

const UNCHANGED = Symbol('unchanged');

/** The list after `patch` (a new array), UNCHANGED, or undefined when the page cannot tell what it did. */
function patchItems(items: readonly Item[], patch: string, shape: ListShape): Item[] | typeof UNCHANGED | undefined {
  const whole = shape.page === 1 && items.length < shape.count;
  const rank = RANK[shape.sort](shape.clockMs);
  if (patch.startsWith(NEW_REVIEW)) {
    if (shape.page !== 1) return undefined;
    const printed = Buffer.from(patch.slice(NEW_REVIEW.length));
    const added = parseItem(printed, 0, printed.length, rank);
    if (items.some((item) => item.id === added.id)) return UNCHANGED;
    const at = items.findIndex((item) => listedBefore(added, item) < 0);
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
    const voted = withHelpfulness(item, helpfulness, rank);
    if (voted === undefined) return undefined;
    next ??= [...items];
    next[at] = voted;
  }
  if (next === undefined) return UNCHANGED;
  if (shape.sort !== 'newest') next.sort(listedBefore);
  return next;
}

/**
 * The item with its one `,"helpfulness":N,` member saying `helpfulness` instead, or undefined for
 * an item not printed that way (the list is then dropped, not guessed at).
 */
function withHelpfulness(item: Item, helpfulness: number, rank: Rank): Item | undefined {
  const member = `,"helpfulness":${item.helpfulness},`;
  const at = item.source.indexOf(member, item.start);
  if (at === -1 || at + member.length > item.end) return undefined;
  const source = Buffer.concat([
    item.source.subarray(item.start, at),
    Buffer.from(`,"helpfulness":${helpfulness},`),
    item.source.subarray(at + member.length, item.end),
  ]);
  return {
    id: item.id,
    dateMs: item.dateMs,
    helpfulness,
    rank: rank(helpfulness, item.dateMs),
    source,
    start: 0,
    end: source.length,
  };
}
