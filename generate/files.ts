/**
 * One row source per CSV file of the legacy export. Each is a generator of ~64 KiB string
 * chunks that walks the catalogue tree (shape.ts) on its own, so files can be written
 * in any order or in parallel, never holding more than a chunk.
 *
 * Formats follow the real files (atelier-data.md, atelier-sample/): text double-quoted with
 * quotes doubled, integers bare, `null` bare, dates in epoch milliseconds, LF line ends.
 */
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exponentialWeight, Rng } from './random.js';
import {
  answerWalk,
  CHARACTERISTIC_NAMES,
  CharacteristicsWalk,
  END_DATE_MS,
  FIRST_DATE_MS,
  MAX_RELATED_PER_PRODUCT,
  questionWalk,
  reviewWalk,
  Shape,
  styleWalk,
  type Category,
  type FileName,
} from './shape.js';
import { LONGEST_PASSAGE, photoWidth, SIZE_LABELS, TextSource } from './text.js';

/** Dirt the real files contain, written at these rates and counted in the manifest. */
export const DIRT_RATES = {
  /** photos.csv lines whose last field lacks its closing quote. */
  unterminatedPhotoLine: 0.001,
  /** Rows written just before their predecessor (ids n+1, n), as in the real photos and skus. */
  swappedRow: 0.001,
  relatedZero: 0.002,
  relatedUnknown: 0.001,
  relatedSelf: 0.005,
  relatedDuplicate: 0.005,
} as const;

/** Features that have values still leave some unset (features without values always are). */
const NULL_FEATURE_VALUE = 0.03;
const STYLES_ON_SALE = 0.2;
const REVIEWS_WITH_RESPONSE = 0.12;
const REPORTED = 0.05;
const STYLES_WITH_OWN_PRICE = 0.05;

const DATE_SPAN_MS = END_DATE_MS - FIRST_DATE_MS;
const DAY_MS = 86_400_000;
const CHUNK_CHARS = 64 * 1024;
/** Lets the disk absorb a few MiB while the generator keeps its core busy. */
const WRITE_BUFFER_BYTES = 4 << 20;

/** What one generated file holds: its rows and how many of them carry each kind of dirt. */
export interface FileStats {
  rows: number;
  dirt: Record<string, number>;
}

export interface FileContext {
  readonly shape: Shape;
  readonly text: TextSource;
  readonly rng: Rng;
}

interface FileSpec {
  readonly header: string;
  /** Rough size of a row, to start the biggest files first when writing in parallel. */
  readonly bytesPerRow: number;
  /** Dirt kinds counted for this file (always present in the stats, zero or not). */
  readonly dirt: readonly string[];
  rows(context: FileContext, stats: FileStats): Generator<string, void, undefined>;
}

/** Accumulates rows into chunks big enough to make stream writes cheap. */
class Chunk {
  private text = '';

  /** Adds a row; true when the chunk is full and should be taken. */
  add(row: string): boolean {
    this.text += row;
    return this.text.length >= CHUNK_CHARS;
  }

  take(): string {
    const full = this.text;
    this.text = '';
    return full;
  }
}

/**
 * Hands out the dense ids of a leaf file, now and then giving a parent's next two children in
 * swapped order (n+1 then n). Only the id order changes, never which parent a row belongs to.
 */
class LeafIds {
  private nextId = 1;
  private held = 0;

  constructor(
    private readonly rng: Rng,
    private readonly stats: FileStats,
  ) {}

  /** The id of the next row, given how many rows of the current parent are still to come. */
  take(remainingSiblings: number): number {
    if (this.held !== 0) {
      const id = this.held;
      this.held = 0;
      return id;
    }
    if (remainingSiblings >= 2 && this.rng.chance(DIRT_RATES.swappedRow)) {
      this.held = this.nextId;
      this.nextId += 2;
      this.stats.dirt.out_of_order++;
      return this.held + 1;
    }
    return this.nextId++;
  }
}

function randomDate(rng: Rng): number {
  return FIRST_DATE_MS + rng.below(DATE_SPAN_MS);
}

/** A non-negative count with the given mean and a long tail (helpfulness votes). */
function votes(rng: Rng, mean: number): number {
  return Math.floor(exponentialWeight(rng.next()) * mean);
}

function* products({ shape, text, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  for (let productId = 1; productId <= shape.products; productId++) {
    const category = shape.category(productId);
    if (
      chunk.add(
        productId +
          ',"' +
          text.productName(rng, category) +
          '","' +
          text.slogan(rng) +
          '","' +
          text.passage(rng, 60, 450) +
          '","' +
          category.name +
          '",' +
          shape.price(productId, category) +
          '\n',
      )
    ) {
      yield chunk.take();
    }
    stats.rows++;
  }
  yield chunk.take();
}

function* features({ shape, text, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const all = text.features;
  let id = 0;
  for (let productId = 1; productId <= shape.products; productId++) {
    const count = shape.featureCount(productId);
    // Consecutive entries of the list, so a product never repeats a feature.
    const first = rng.below(all.length);
    for (let n = 0; n < count; n++) {
      const [feature, values] = all[(first + n) % all.length]!;
      let value: string;
      if (values.length === 0 || rng.chance(NULL_FEATURE_VALUE)) {
        value = 'null';
        stats.dirt.null_value++;
      } else {
        value = `"${rng.pick(values)}"`;
      }
      if (chunk.add(`${++id},${productId},"${feature}",${value}\n`)) yield chunk.take();
      stats.rows++;
    }
  }
  yield chunk.take();
}

function* styles({ shape, text, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const walk = styleWalk(shape);
  let price = 0;
  let defaultIndex = -1;
  while (walk.next()) {
    const productId = walk.parent.id;
    if (walk.index === 0) {
      price = shape.price(productId, shape.category(productId));
      defaultIndex = shape.defaultStyleIndex(productId, walk.count);
    }
    const name = rng.chance(0.5) ? text.color(rng) : `${text.color(rng)} & ${text.color(rng)}`;
    const original = rng.chance(STYLES_WITH_OWN_PRICE) ? price + rng.between(1, 10) * 10 : price;
    let sale: number | string;
    if (rng.chance(STYLES_ON_SALE)) {
      sale = Math.max(1, Math.floor(original * (0.5 + 0.4 * rng.next())));
    } else {
      sale = 'null';
      stats.dirt.null_sale_price++;
    }
    if (
      chunk.add(
        walk.id +
          ',' +
          productId +
          ',"' +
          name +
          '",' +
          sale +
          ',' +
          original +
          ',' +
          (walk.index === defaultIndex ? '1' : '0') +
          '\n',
      )
    ) {
      yield chunk.take();
    }
    stats.rows++;
  }
  yield chunk.take();
}

function* photos({ shape, text, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const walk = styleWalk(shape);
  const ids = new LeafIds(rng, stats);
  while (walk.next()) {
    const count = shape.photoCount(walk.id);
    for (let n = 0; n < count; n++) {
      const prefix = text.photoUrlPrefix(rng);
      let close = '"\n';
      if (rng.chance(DIRT_RATES.unterminatedPhotoLine)) {
        close = '\n';
        stats.dirt.unterminated_quote++;
      }
      if (
        chunk.add(
          ids.take(count - n) +
            ',' +
            walk.id +
            ',"' +
            prefix +
            photoWidth(rng) +
            '&q=80","' +
            prefix +
            '300&q=80' +
            close,
        )
      ) {
        yield chunk.take();
      }
      stats.rows++;
    }
  }
  yield chunk.take();
}

function* skus({ shape, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const walk = styleWalk(shape);
  const ids = new LeafIds(rng, stats);
  let category: Category | undefined;
  while (walk.next()) {
    if (walk.index === 0) category = shape.category(walk.parent.id);
    const labels = SIZE_LABELS[category!.sizes];
    const count = shape.skuCount(walk.id);
    // A run of consecutive sizes; a style with more skus than sizes repeats some, as real ones do.
    const first = count >= labels.length ? 0 : rng.below(labels.length - count + 1);
    for (let n = 0; n < count; n++) {
      if (
        chunk.add(
          ids.take(count - n) +
            ',' +
            walk.id +
            ',"' +
            labels[(first + n) % labels.length] +
            '",' +
            rng.below(60) +
            '\n',
        )
      ) {
        yield chunk.take();
      }
      stats.rows++;
    }
  }
  yield chunk.take();
}

/** Cumulative thresholds of one uniform roll, so each dirty related row has exactly one reason. */
const RELATED_ZERO_BELOW = DIRT_RATES.relatedZero;
const RELATED_UNKNOWN_BELOW = RELATED_ZERO_BELOW + DIRT_RATES.relatedUnknown;
const RELATED_SELF_BELOW = RELATED_UNKNOWN_BELOW + DIRT_RATES.relatedSelf;
const RELATED_DUPLICATE_BELOW = RELATED_SELF_BELOW + DIRT_RATES.relatedDuplicate;

function* related({ shape, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const dirt = stats.dirt;
  const clean = new Int32Array(MAX_RELATED_PER_PRODUCT);
  let id = 0;
  for (let productId = 1; productId <= shape.products; productId++) {
    const count = shape.relatedCount(productId);
    let cleanCount = 0;
    // A second zero or self row would also be a duplicate pair: one of each per product at most.
    let zeroWritten = false;
    let selfWritten = false;
    for (let n = 0; n < count; n++) {
      const roll = rng.next();
      let relatedId: number;
      if (roll < RELATED_ZERO_BELOW && !zeroWritten) {
        relatedId = 0;
        zeroWritten = true;
        dirt.related_zero++;
      } else if (roll < RELATED_UNKNOWN_BELOW) {
        // Past the last product and unique per row, so never also a duplicate pair.
        relatedId = shape.products + id + 1;
        dirt.related_unknown++;
      } else if (roll < RELATED_SELF_BELOW && !selfWritten) {
        relatedId = productId;
        selfWritten = true;
        dirt.related_self++;
      } else if (roll < RELATED_DUPLICATE_BELOW && cleanCount > 0) {
        relatedId = clean[rng.below(cleanCount)]!;
        dirt.related_duplicate++;
      } else {
        relatedId = distinctRelated(rng, shape.products, productId, clean, cleanCount);
        // Tiny scales have fewer other products than the relations wanted.
        if (relatedId === 0) continue;
        clean[cleanCount++] = relatedId;
      }
      if (chunk.add(`${++id},${productId},${relatedId}\n`)) yield chunk.take();
      stats.rows++;
    }
  }
  yield chunk.take();
}

/** A product id other than `productId` and not among `taken[0..takenCount)`, or 0 if none is left. */
function distinctRelated(rng: Rng, products: number, productId: number, taken: Int32Array, takenCount: number): number {
  if (products - 1 <= takenCount) return 0;
  for (;;) {
    const candidate = 1 + rng.below(products);
    if (candidate !== productId && !isAmong(candidate, taken, takenCount)) return candidate;
  }
}

function isAmong(value: number, items: Int32Array, count: number): boolean {
  for (let i = 0; i < count; i++) if (items[i] === value) return true;
  return false;
}

/**
 * Passage lengths count escaped UTF-16 units; the minimum leaves room for a doubled quote pair
 * and an emoji, so a parsed body still has at least 50 characters.
 */
const REVIEW_BODY_MIN = 60;

function* reviews({ shape, text, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const walk = reviewWalk(shape);
  while (walk.next()) {
    const rating = shape.rating(walk.id);
    const recommend = rng.chance(rating >= 4 ? 0.92 : rating === 3 ? 0.5 : 0.12);
    let response: string;
    if (rng.chance(REVIEWS_WITH_RESPONSE)) {
      response = `"${text.response(rng)}"`;
    } else {
      response = 'null';
      stats.dirt.null_response++;
    }
    if (
      chunk.add(
        walk.id +
          ',' +
          walk.parent.id +
          ',' +
          rating +
          ',' +
          randomDate(rng) +
          ',"' +
          text.summary(rng) +
          '","' +
          text.passage(rng, REVIEW_BODY_MIN, LONGEST_PASSAGE) +
          '",' +
          recommend +
          ',' +
          rng.chance(REPORTED) +
          ',' +
          text.person(rng) +
          ',' +
          response +
          ',' +
          votes(rng, 6) +
          '\n',
      )
    ) {
      yield chunk.take();
    }
    stats.rows++;
  }
  yield chunk.take();
}

function* reviewsPhotos({ shape, text, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const walk = reviewWalk(shape);
  const ids = new LeafIds(rng, stats);
  while (walk.next()) {
    const count = shape.reviewPhotoCount(walk.id);
    for (let n = 0; n < count; n++) {
      if (chunk.add(`${ids.take(count - n)},${walk.id},"${text.photoUrl(rng)}"\n`)) yield chunk.take();
      stats.rows++;
    }
  }
  yield chunk.take();
}

function* characteristics({ shape }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const walk = new CharacteristicsWalk(shape);
  while (walk.next()) {
    let id = walk.firstCharacteristicId;
    for (let bit = 0; bit < CHARACTERISTIC_NAMES.length; bit++) {
      if ((walk.mask & (1 << bit)) === 0) continue;
      if (chunk.add(`${id++},${walk.id},"${CHARACTERISTIC_NAMES[bit]}"\n`)) yield chunk.take();
      stats.rows++;
    }
  }
  yield chunk.take();
}

function* characteristicReviews({ shape, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const walk = reviewWalk(shape);
  const product = walk.parent;
  let id = 0;
  while (walk.next()) {
    const rating = shape.rating(walk.id);
    for (let n = 0; n < product.count; n++) {
      // Characteristic scores follow the star rating, give or take one.
      const value = Math.min(5, Math.max(1, rating + rng.below(3) - 1));
      if (chunk.add(`${++id},${product.firstCharacteristicId + n},${walk.id},${value}\n`)) {
        yield chunk.take();
      }
      stats.rows++;
    }
  }
  yield chunk.take();
}

function* questions({ shape, text, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const walk = questionWalk(shape);
  while (walk.next()) {
    if (
      chunk.add(
        walk.id +
          ',' +
          walk.parent.id +
          ',"' +
          text.question(rng) +
          '",' +
          shape.questionDate(walk.id) +
          ',' +
          text.person(rng) +
          ',' +
          (rng.chance(REPORTED) ? 1 : 0) +
          ',' +
          votes(rng, 5) +
          '\n',
      )
    ) {
      yield chunk.take();
    }
    stats.rows++;
  }
  yield chunk.take();
}

function* answers({ shape, text, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const walk = answerWalk(shape);
  while (walk.next()) {
    const asked = shape.questionDate(walk.parent.id);
    // Answered some days after the question, within the dataset's span.
    const answered = Math.min(END_DATE_MS - 1, asked + Math.floor(exponentialWeight(rng.next()) * 30 * DAY_MS));
    const body = rng.chance(0.5) ? text.shortAnswer(rng) : text.passage(rng, 20, 300);
    if (
      chunk.add(
        walk.id +
          ',' +
          walk.parent.id +
          ',"' +
          body +
          '",' +
          answered +
          ',' +
          text.person(rng) +
          ',' +
          (rng.chance(REPORTED) ? 1 : 0) +
          ',' +
          votes(rng, 4) +
          '\n',
      )
    ) {
      yield chunk.take();
    }
    stats.rows++;
  }
  yield chunk.take();
}

function* answersPhotos({ shape, text, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  const walk = answerWalk(shape);
  let id = 0;
  while (walk.next()) {
    const count = shape.answerPhotoCount(walk.id);
    for (let n = 0; n < count; n++) {
      if (chunk.add(`${++id},${walk.id},"${text.photoUrl(rng)}"\n`)) yield chunk.take();
      stats.rows++;
    }
  }
  yield chunk.take();
}

function* cart({ shape, rng }: FileContext, stats: FileStats): Generator<string, void, undefined> {
  const chunk = new Chunk();
  let session = 0;
  for (let id = 1; id <= shape.cartRows; id++) {
    // A session adds a few products in a row before the next one starts.
    if (id === 1 || rng.chance(0.3)) session = rng.between(1000, 99_999);
    if (chunk.add(`${id},${session},${rng.between(1, shape.products)},${rng.chance(0.9) ? 1 : 0}\n`)) {
      yield chunk.take();
    }
    stats.rows++;
  }
  yield chunk.take();
}

/** Every file of the export, parents before children, with its exact header. */
export const FILES: Record<FileName, FileSpec> = {
  'product.csv': {
    header: 'id,name,slogan,description,category,default_price',
    dirt: [],
    rows: products,
    bytesPerRow: 250,
  },
  'features.csv': {
    header: 'id,product_id,feature,value',
    dirt: ['null_value'],
    rows: features,
    bytesPerRow: 35,
  },
  'styles.csv': {
    header: 'id,productId,name,sale_price,original_price,default_style',
    dirt: ['null_sale_price'],
    rows: styles,
    bytesPerRow: 38,
  },
  'photos.csv': {
    header: 'id,styleId,url,thumbnail_url',
    dirt: ['unterminated_quote', 'out_of_order'],
    rows: photos,
    bytesPerRow: 280,
  },
  'skus.csv': {
    header: 'id,styleId,size,quantity',
    dirt: ['out_of_order'],
    rows: skus,
    bytesPerRow: 23,
  },
  'related.csv': {
    header: 'id,current_product_id,related_product_id',
    dirt: ['related_zero', 'related_unknown', 'related_self', 'related_duplicate'],
    rows: related,
    bytesPerRow: 19,
  },
  'reviews.csv': {
    header:
      'id,product_id,rating,date,summary,body,recommend,reported,reviewer_name,reviewer_email,response,' +
      'helpfulness',
    dirt: ['null_response'],
    rows: reviews,
    bytesPerRow: 480,
  },
  'reviews_photos.csv': {
    header: 'id,review_id,url',
    dirt: ['out_of_order'],
    rows: reviewsPhotos,
    bytesPerRow: 146,
  },
  'characteristics.csv': {
    header: 'id,product_id,name',
    dirt: [],
    rows: characteristics,
    bytesPerRow: 21,
  },
  'characteristic_reviews.csv': {
    header: 'id,characteristic_id,review_id,value',
    dirt: [],
    rows: characteristicReviews,
    bytesPerRow: 23,
  },
  'questions.csv': {
    header: 'id,product_id,body,date_written,asker_name,asker_email,reported,helpful',
    dirt: [],
    rows: questions,
    bytesPerRow: 102,
  },
  'answers.csv': {
    header: 'id,question_id,body,date_written,answerer_name,answerer_email,reported,helpful',
    dirt: [],
    rows: answers,
    bytesPerRow: 141,
  },
  'answers_photos.csv': {
    header: 'id,answer_id,url',
    dirt: [],
    rows: answersPhotos,
    bytesPerRow: 146,
  },
  'cart.csv': {
    header: 'id,user_session,product_id,active',
    dirt: [],
    rows: cart,
    bytesPerRow: 18,
  },
};

export const FILE_NAMES = Object.keys(FILES) as FileName[];

/** What identifies a generated dataset: the same three give the same bytes. */
export interface Generation {
  readonly seed: number;
  readonly scale: number;
  readonly out: string;
}

/** Salts of the sequential streams: one for the vocabulary, then one per file. */
const TEXT_SALT = 1000;
const FILE_SALT = 2000;

export function emptyStats(name: FileName): FileStats {
  return { rows: 0, dirt: Object.fromEntries(FILES[name].dirt.map((kind) => [kind, 0])) };
}

/** Writes files of one generation; the catalogue shape and vocabulary are built once. */
export class CsvWriter {
  private readonly shape: Shape;
  private readonly text: TextSource;

  constructor(private readonly generation: Generation) {
    this.shape = new Shape(generation.seed, generation.scale);
    this.text = new TextSource(generation.seed, TEXT_SALT);
  }

  /** Writes `name` into the output directory, counting rows and dirt into `stats` as it goes. */
  async write(name: FileName, stats: FileStats): Promise<void> {
    const spec = FILES[name];
    const rng = new Rng(this.generation.seed, FILE_SALT + FILE_NAMES.indexOf(name));
    const context = { shape: this.shape, text: this.text, rng };
    function* chunks(): Generator<string, void, undefined> {
      yield `${spec.header}\n`;
      yield* spec.rows(context, stats);
    }
    // Readable.from pulls a chunk only when the file stream has room: memory stays bounded.
    const file = createWriteStream(path.join(this.generation.out, name), { highWaterMark: WRITE_BUFFER_BYTES });
    await pipeline(Readable.from(chunks()), file);
  }
}
