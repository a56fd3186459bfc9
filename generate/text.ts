/**
 * Text for generated rows. Everything is built once, already CSV-escaped (quotes doubled), so
 * writing a row is plain string concatenation: no per-row escaping, few allocations. Long text
 * (review bodies, descriptions, answers) is a slice of one pre-built corpus, which V8 keeps as
 * a view of the corpus instead of a copy.
 */
import { Rng } from './random.js';
import type { Category } from './shape.js';

/** Escapes a value for the inside of a double-quoted CSV field. */
export function escapeQuotes(text: string): string {
  return text.replaceAll('"', '""');
}

const NOUNS = [
  'jacket',
  'fabric',
  'material',
  'color',
  'stitching',
  'fit',
  'size',
  'quality',
  'design',
  'pocket',
  'zipper',
  'sole',
  'lining',
  'collar',
  'strap',
  'seam',
  'waistband',
  'hood',
  'cuff',
  'print',
];
const ADJECTIVES = [
  'comfortable',
  'soft',
  'sturdy',
  'cheap',
  'flimsy',
  'gorgeous',
  'warm',
  'lightweight',
  'durable',
  'stylish',
  'itchy',
  'perfect',
  'tight',
  'loose',
  'roomy',
  'breathable',
  'stiff',
  'cozy',
];
const ADVERBS = [
  'really',
  'very',
  'surprisingly',
  'incredibly',
  'a bit',
  'way too',
  'somewhat',
  'super',
  'not very',
  'pretty',
];
const COLORS = [
  'Forest Green',
  'Black',
  'Desert Brown',
  'Tan',
  'Ocean Blue',
  'Grey',
  'Digital Red',
  'Sky Blue',
  'White',
  'Dark Grey',
  'Goldenrod',
  'Maroon',
  'Chartreuse',
  'Olive Green',
  'Khaki',
  'Plaid',
  'Pinstripe',
  'Navy',
  'Cream',
  'Burgundy',
  'Coral',
  'Teal',
  'Mustard',
  'Lavender',
  'Charcoal',
  'Ivory',
  'Rose Gold',
  'Camo',
  'Zebra Stripe',
  'Houndstooth',
  'Crème',
  'Bleu Nuit',
];
const PEOPLE = [
  'my wife',
  'my husband',
  'my son',
  'my daughter',
  'my mom',
  'my dad',
  'my roommate',
  'my girlfriend',
  'my boyfriend',
  'a friend',
  'myself',
];
const DURATIONS = ['a week', 'two weeks', 'a month', 'three months', 'six months', 'a year', 'two years'];
const SIZES_WORN = ['XS', 'S', 'M', 'L', 'XL', 'XXL', '9.5', '11'];

/** Review-like sentences; {slots} are filled at random when the corpus is built. */
const SENTENCES = [
  'The {noun} is {adverb} {adjective}.',
  'I bought this for {person} and they love it.',
  'After {duration} of wear, the {noun} still looks {adjective}.',
  'Runs small, so order a size up.',
  'Runs large, so order a size down.',
  'The {color} looks even better in person.',
  'Shipping was fast, and the packaging was {adjective}.',
  'Honestly, the {noun} feels {adjective} for the price.',
  'My friend called it "the best {noun} ever", and I agree.',
  'It is {adverb} {adjective}, but the {noun} is a little {adjective}.',
  'Would I buy it again? Absolutely.',
  'Not worth the money, in my opinion.',
  'Très chic, I get compliments every time 😍.',
  'Perfect for the café, the office, or a night out.',
  'Qualität ist super, die Größe passt.',
  'I wore it to the gym, to work, and on a 10-mile hike.',
  'The label says 100% cotton, but it feels like polyester.',
  'Five stars 👍 would recommend to anyone.',
  'The "waterproof" claim is a stretch.',
  'The {color} faded after a few washes.',
  "Fits true to size: I'm 5'10\" and the {size} is perfect.",
  'Bought it in {color}; going back for the {color} one.',
  'Customer service replaced the {noun} in {duration}, no questions asked.',
  'The {noun} started to fray after {duration}.',
  '日本から注文しました。とても良いです。',
  'Love, love, love it!!!',
  'I usually wear a {size}, and the {size} fits {adjective}.',
  'The {noun} is {adjective} and the {noun} is {adjective}.',
  'It arrived {adverb} wrinkled, but steaming fixed that.',
  'Great for travel, it packs down small.',
  'I returned the first one because the {noun} was {adjective}.',
  'For the price, you really can’t beat it.',
  'Cheaper than the big brands and just as {adjective}.',
  'The {noun} broke after {duration}, which was disappointing.',
  'Honestly? Meh.',
  'Wore it every day for {duration} and it still holds up.',
  'Mi esposa está encantada con el {noun}.',
  'The {noun} squeaks a little, but nothing a bit of use won’t fix.',
];

const SUMMARIES = [
  'This product was great!',
  'This product was ok!',
  'This product was terrible!',
  'Love the {color}!',
  'Runs small',
  'Runs large',
  'Would buy again',
  'Not what I expected',
  'Five stars',
  'Meh',
  'Best {noun} I have owned',
  'Good value, "premium" feel',
  '{adverb} {adjective}',
  'The {noun} is {adjective}',
  'Returned it',
  'Perfect gift for {person}',
  'Très bien 👌',
  'Worth every penny',
  'Fell apart after {duration}',
  'Exactly as pictured',
  'Comfy, cute, cheap',
  'So {adjective}!',
];

const QUESTIONS = [
  'Does this run big or small?',
  'Can I wash it?',
  'What fabric is the {noun} made of?',
  'Is the {color} true to the photo?',
  'How long does it last?',
  'Is it {adjective}?',
  'Where is this product made?',
  'Is this product sustainable?',
  'Does it come in {size}?',
  "I'm allergic to dye #17, does this product contain any?",
  'Will it shrink, and by how much?',
  'Can you wear it in the rain?',
  'Is the {noun} removable?',
  'Does the "{color}" fade?',
  'Would this work as a gift for {person}?',
  'Is it true to size?',
  '¿Viene en otros colores?',
  'How heavy is it?',
  'Is the {noun} {adjective} enough for winter?',
];

const ANSWERS = [
  'Supposedly suede, but I think its synthetic',
  'It runs a little small, size up.',
  'Yes!',
  'No, sadly.',
  'Machine wash cold, hang dry.',
  'Mine shrank about half an inch.',
  'It is true to size.',
  'Made in Portugal, according to the label.',
  'I wore it in the rain and stayed dry.',
  'The {noun} is {adjective}, so probably not.',
  'Only in {color} as far as I know.',
  'Ask the seller, the "specs" tab is wrong.',
  'Sí, también en {color}.',
];

const RESPONSES = [
  "Glad you're enjoying the product!",
  "Sorry to hear. Is there anything in particular you don't like?",
  'Thanks for the feedback, we passed it on to our design team.',
  'We are sorry about the {noun}. Please contact support for a replacement.',
  'Thank you! Enjoy your new purchase.',
  'Thanks for the review, "{adjective}" is what we aim for!',
];

const PRODUCT_STYLE_WORDS = [
  'Camo',
  'Classic',
  'Urban',
  'Retro',
  'Vintage',
  'Slim',
  'Cozy',
  'Alpine',
  'Coastal',
  'Midnight',
  'Summer',
  'Morning',
  'Heritage',
  'Trail',
  'Metro',
  'Bright Future',
  'Heir Force',
  'Pumped Up',
  'Blues Suede',
  'Infinity',
  'Slacker’s',
  'Café',
  'Nordic',
  'Desert',
  'Harbor',
  'Electric',
];

const SLOGANS = [
  'Blend in to your crowd',
  "You've got to wear {noun}",
  'Make yourself a morning person',
  'Comfortable for everything, or nothing',
  'A sneaker dynasty',
  'Faster than just about anything',
  'Made for the {adjective} days',
  'The {noun} you deserve',
  'Built to last, made to move',
  '{adverb} {adjective}, every day',
  'Say it in {color}',
  'Because "good enough" is not',
];

/** Features of products, with the values each may take; those without values are always null. */
const FEATURES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['Fabric', ['Canvas', '100% Cotton', 'Denim', 'Silk', 'Wool Blend', '99% Cotton 1% Elastic', 'Linen']],
  ['Buttons', ['Brass', 'Wood', 'Plastic', 'Silver']],
  ['Lenses', ['Ultrasheen', 'Polarized', 'Mirrored']],
  ['UV Protection', []],
  ['Frames', ['LightCompose', 'Titanium', 'Acetate']],
  ['Cut', ['Skinny', 'Loose', 'Straight', 'Relaxed', 'Slim']],
  ['Sole', ['Rubber', 'Foam', 'Leather']],
  ['Material', ['FullControlSkin', 'Leather', 'Suede', 'Mesh']],
  ['Mid-Sole', ['ControlSupport Arch Bridge', 'Memory Foam']],
  ['Stitching', ['Double Stitch', 'Cross Stitch']],
  ['Green Leaf Certified', []],
  ['Closure', ['Zipper', 'Velcro', 'Laces', 'Buckle']],
  ['Lining', ['Fleece', 'Satin', 'Quilted, Down-filled']],
  ['Care', ['Machine wash cold, tumble dry low', 'Dry clean only']],
  ['Non-GMO', ['Yes', 'Certified']],
  ['Origin', ['Made in Portugal', 'Made in Viet Nam', 'Made in the "USA"']],
];

const NAME_PARTS_A = [
  'fun',
  'silly',
  'cool',
  'big',
  'tiny',
  'happy',
  'lazy',
  'fashion',
  'shop',
  'iluv',
  'mister',
  'miss',
  'yankee',
  'sneaker',
  'l33t',
  'urban',
  'coffee',
  'night',
  'zoë',
  'josé',
  'björn',
  'ana',
];
const NAME_PARTS_B = [
  'time',
  'guy',
  'girl',
  'kid',
  'lover',
  'addict',
  'person',
  'catz',
  'gamer',
  'mother',
  'brother',
  'sister',
  'fan',
  'owl',
  'walker',
  'runner',
  'head',
  'panda',
];
const EMAIL_DOMAINS = ['gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com', 'icloud.com', 'example.com'];

const URL_WIDTHS = [668, 668, 668, 1650, 2734, 1000, 975, 1651, 2775, 938, 666, 2089, 2800, 1652, 3028];

/** Size labels in the order a style lists them. */
export const SIZE_LABELS: Record<Category['sizes'], readonly string[]> = {
  apparel: ['XS', 'S', 'M', 'L', 'XL', 'XXL'],
  shoes: ['7', '7.5', '8', '8.5', '9', '9.5', '10', '10.5', '11', '11.5', '12', '12.5', '13'],
  'one size': ['One Size'],
};

const CORPUS_CHARS = 1 << 18;
const POOL_SIZE = 4096;
/** The longest text `passage` hands out (a review body). */
export const LONGEST_PASSAGE = 1000;

export class TextSource {
  private readonly corpus: string;
  /** Offsets in the corpus where a sentence starts. */
  private readonly sentenceStarts: Int32Array;
  /** How many of sentenceStarts leave room for the longest passage after them. */
  private readonly passageStarts: number;
  private readonly summaries: string[];
  private readonly questions: string[];
  private readonly answers: string[];
  private readonly responses: string[];
  private readonly slogans: string[];
  private readonly people: string[];
  private readonly photoUrlPrefixes: string[];
  private readonly colors = COLORS.map(escapeQuotes);
  private readonly productWords = PRODUCT_STYLE_WORDS.map(escapeQuotes);
  readonly features = FEATURES.map(([name, values]) => [escapeQuotes(name), values.map(escapeQuotes)] as const);

  /** All text is drawn from `seed`, so the same seed gives the same vocabulary in every file. */
  constructor(seed: number, salt: number) {
    const rng = new Rng(seed, salt);
    const fill = (template: string): string =>
      template.replace(/\{(\w+)\}/g, (_, slot: string) => {
        switch (slot) {
          case 'noun':
            return rng.pick(NOUNS);
          case 'adjective':
            return rng.pick(ADJECTIVES);
          case 'adverb':
            return rng.pick(ADVERBS);
          case 'color':
            return rng.pick(COLORS);
          case 'person':
            return rng.pick(PEOPLE);
          case 'duration':
            return rng.pick(DURATIONS);
          case 'size':
            return rng.pick(SIZES_WORN);
          default:
            throw new Error(`unknown slot {${slot}}`);
        }
      });
    const pool = (templates: readonly string[], size: number): string[] =>
      Array.from({ length: size }, () => escapeQuotes(capitalise(fill(rng.pick(templates)))));

    const parts: string[] = [];
    const starts: number[] = [];
    let length = 0;
    while (length < CORPUS_CHARS) {
      const sentence = escapeQuotes(fill(rng.pick(SENTENCES)));
      starts.push(length);
      parts.push(sentence);
      length += sentence.length + 1;
    }
    this.corpus = parts.join(' ');
    this.sentenceStarts = Int32Array.from(starts);
    this.passageStarts = starts.filter((start) => start + LONGEST_PASSAGE < length - 1).length;

    this.summaries = pool(SUMMARIES, POOL_SIZE);
    this.questions = pool(QUESTIONS, POOL_SIZE);
    this.answers = pool(ANSWERS, POOL_SIZE);
    this.responses = pool(RESPONSES, POOL_SIZE);
    this.slogans = pool(SLOGANS, POOL_SIZE);
    this.people = Array.from({ length: POOL_SIZE }, () => {
      const name = rng.pick(NAME_PARTS_A) + rng.pick(NAME_PARTS_B) + (rng.chance(0.4) ? rng.below(1000) : '');
      const local = name.normalize('NFD').replace(/[^a-z0-9]/g, '') || 'user';
      const email = `${local + (rng.chance(0.5) ? `.${rng.pick(NAME_PARTS_B)}` : '')}@${rng.pick(EMAIL_DOMAINS)}`;
      return `"${escapeQuotes(name)}","${email}"`;
    });
    this.photoUrlPrefixes = Array.from({ length: POOL_SIZE }, () => {
      const stamp = 1_400_000_000_000 + rng.below(170_000_000_000);
      const hash =
        rng
          .below(2 ** 32)
          .toString(16)
          .padStart(8, '0') +
        rng
          .below(2 ** 16)
          .toString(16)
          .padStart(4, '0');
      const ixid = rng.chance(0.85) ? '&ixid=eyJhcHBfaWQiOjEyMDd9' : '';
      return `https://images.unsplash.com/photo-${stamp}-${hash}?ixlib=rb-1.2.1${ixid}&auto=format&fit=crop&w=`;
    });
  }

  /**
   * Escaped text of `minLength` to `maxLength` characters, starting at a sentence and ending at a
   * word, lengths skewed short. Cutting only at spaces never splits a doubled quote or a
   * surrogate pair. `maxLength` must not exceed LONGEST_PASSAGE, and `maxLength - minLength`
   * must exceed the longest unspaced run of the corpus (about 20).
   */
  passage(rng: Rng, minLength: number, maxLength: number): string {
    const first = rng.below(this.passageStarts);
    const start = this.sentenceStarts[first]!;
    const unit = rng.next();
    const limit = start + minLength + Math.floor(unit * unit * (maxLength - minLength + 1));
    // End with a whole sentence when one fits, otherwise after the last whole word.
    const sentenceEnd = this.sentenceStarts[this.lastSentenceStartAtOrBefore(limit + 1, first)]! - 1;
    if (sentenceEnd >= start + minLength) return this.corpus.slice(start, sentenceEnd);
    let end = this.corpus.lastIndexOf(' ', limit);
    // A long unspaced run (the Japanese sentence) can push the last space below the minimum.
    if (end < start + minLength) end = this.corpus.indexOf(' ', start + minLength);
    return this.corpus.slice(start, end);
  }

  /** Index of the last sentence starting at or before `offset`, searching from index `from`. */
  private lastSentenceStartAtOrBefore(offset: number, from: number): number {
    let low = from;
    let high = this.sentenceStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.sentenceStarts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  productName(rng: Rng, category: Category): string {
    return `${rng.pick(this.productWords)} ${rng.pick(category.nouns)}`;
  }

  slogan(rng: Rng): string {
    return rng.pick(this.slogans);
  }

  /** Escaped summary, at most 60 characters. */
  summary(rng: Rng): string {
    return rng.pick(this.summaries);
  }

  question(rng: Rng): string {
    return rng.pick(this.questions);
  }

  shortAnswer(rng: Rng): string {
    return rng.pick(this.answers);
  }

  response(rng: Rng): string {
    return rng.pick(this.responses);
  }

  color(rng: Rng): string {
    return rng.pick(this.colors);
  }

  /** `"name","email"`, both quoted, ready to be placed between two commas. */
  person(rng: Rng): string {
    return rng.pick(this.people);
  }

  /** An unsplash-like image URL, without quotes. */
  photoUrl(rng: Rng): string {
    return `${this.photoUrlPrefix(rng) + photoWidth(rng)}&q=80`;
  }

  /** An image URL up to its `w=` parameter: the photos file gives each image at two widths. */
  photoUrlPrefix(rng: Rng): string {
    return rng.pick(this.photoUrlPrefixes);
  }
}

export function photoWidth(rng: Rng): number {
  return rng.pick(URL_WIDTHS);
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
