/**
 * The shape of a generated catalogue: how many children each parent row has, and the few
 * per-row facts that more than one file needs (a product's category and price, a review's
 * rating, a question's date). Everything here is a pure function of (seed, id), so each CSV
 * file is produced by walking the same tree on its own (see the *Walk classes).
 */
import { exponentialWeight, HashedUnit, logNormalWeight, stochasticCount } from './random.js';

/**
 * Rows of each file of the real dataset (atelier-data.md). The cart file is only described as
 * "small"; the generator writes this many cart rows at scale 1, proportionally fewer below.
 */
export const REAL_ROWS = {
  'product.csv': 1_000_011,
  'features.csv': 2_219_279,
  'styles.csv': 1_958_102,
  'photos.csv': 5_655_656,
  'skus.csv': 11_323_917,
  'related.csv': 4_508_263,
  'reviews.csv': 5_774_952,
  'reviews_photos.csv': 2_742_540,
  'characteristics.csv': 3_347_679,
  'characteristic_reviews.csv': 19_327_575,
  'questions.csv': 3_518_963,
  'answers.csv': 6_879_306,
  'answers_photos.csv': 2_063_759,
  'cart.csv': 5_000,
} as const;

export type FileName = keyof typeof REAL_ROWS;

/** The largest answer id of the real dataset: its answer ids are sparse. */
const REAL_MAX_ANSWER_ID = 12_392_946;

const PRODUCTS = REAL_ROWS['product.csv'];
const STYLES = REAL_ROWS['styles.csv'];
const REVIEWS = REAL_ROWS['reviews.csv'];
const ANSWERS = REAL_ROWS['answers.csv'];

/** Mean children per parent, so that scale 1 reproduces the real totals. */
const MEAN = {
  featuresPerProduct: REAL_ROWS['features.csv'] / PRODUCTS,
  stylesPerProduct: STYLES / PRODUCTS,
  photosPerStyle: REAL_ROWS['photos.csv'] / STYLES,
  skusPerStyle: REAL_ROWS['skus.csv'] / STYLES,
  relatedPerProduct: REAL_ROWS['related.csv'] / PRODUCTS,
  reviewsPerProduct: REVIEWS / PRODUCTS,
  characteristicsPerProduct: REAL_ROWS['characteristics.csv'] / PRODUCTS,
  questionsPerProduct: REAL_ROWS['questions.csv'] / PRODUCTS,
  answersPerQuestion: ANSWERS / REAL_ROWS['questions.csv'],
  answerIdStride: REAL_MAX_ANSWER_ID / ANSWERS,
  photosPerReview: REAL_ROWS['reviews_photos.csv'] / REVIEWS,
  photosPerAnswer: REAL_ROWS['answers_photos.csv'] / ANSWERS,
} as const;

/** Share of products without a single review: the real distribution is heavily skewed. */
const PRODUCTS_WITHOUT_REVIEWS = 0.3;
/** Spread of review counts among reviewed products (a few reach several hundred). */
const REVIEW_COUNT_SIGMA = 1.0;
const REVIEWS_WITH_PHOTOS = 0.44;
const ANSWERS_WITH_PHOTOS = 0.2;
const PRODUCTS_WITH_DEFAULT_STYLE = 0.9;
/** A few products are not for sale in any style yet. */
const PRODUCTS_WITHOUT_STYLES = 0.03;

/** An even count never exceeds twice its mean, rounded up. */
export const MAX_RELATED_PER_PRODUCT = Math.ceil(2 * MEAN.relatedPerProduct) + 1;

export const CHARACTERISTIC_NAMES = ['Fit', 'Length', 'Comfort', 'Quality', 'Size', 'Width'] as const;

/** For each subset size, every bitmask over CHARACTERISTIC_NAMES of that many bits. */
const CHARACTERISTIC_SUBSETS: number[][] = CHARACTERISTIC_NAMES.map(() => []);
CHARACTERISTIC_SUBSETS.push([]);
for (let mask = 1; mask < 1 << CHARACTERISTIC_NAMES.length; mask++) {
  CHARACTERISTIC_SUBSETS[bitCount(mask)]!.push(mask);
}

export function bitCount(mask: number): number {
  let count = 0;
  for (let rest = mask; rest !== 0; rest &= rest - 1) count++;
  return count;
}

export type SizeRange = 'apparel' | 'shoes' | 'one size';

export interface Category {
  readonly name: string;
  readonly sizes: SizeRange;
  /** What a product of the category is called ("Joggers"), after a style word. */
  readonly nouns: readonly string[];
  readonly minPrice: number;
  readonly maxPrice: number;
  /** Relative frequency among products. */
  readonly weight: number;
}

export const CATEGORIES: readonly Category[] = [
  {
    name: 'Jackets',
    sizes: 'apparel',
    minPrice: 60,
    maxPrice: 400,
    weight: 8,
    nouns: ['Jacket', 'Parka', 'Bomber', 'Windbreaker', 'Blazer', 'Onesie'],
  },
  {
    name: 'Pants',
    sizes: 'apparel',
    minPrice: 30,
    maxPrice: 180,
    weight: 10,
    nouns: ['Joggers', 'Slacks', 'Chinos', 'Jeans', 'Trousers'],
  },
  {
    name: 'Shirts',
    sizes: 'apparel',
    minPrice: 15,
    maxPrice: 120,
    weight: 12,
    nouns: ['Tee', 'Oxford', 'Henley', 'Polo', 'Flannel'],
  },
  {
    name: 'Shorts',
    sizes: 'apparel',
    minPrice: 15,
    maxPrice: 90,
    weight: 7,
    nouns: ['Shorts', 'Cargo Shorts', 'Board Shorts'],
  },
  { name: 'Sweatpants', sizes: 'apparel', minPrice: 25, maxPrice: 110, weight: 6, nouns: ['Sweatpants', 'Trackpants'] },
  { name: 'Tank Tops', sizes: 'apparel', minPrice: 10, maxPrice: 60, weight: 5, nouns: ['Tank', 'Muscle Tee'] },
  {
    name: 'Dresses',
    sizes: 'apparel',
    minPrice: 30,
    maxPrice: 300,
    weight: 6,
    nouns: ['Dress', 'Maxi Dress', 'Sundress'],
  },
  {
    name: 'Kicks',
    sizes: 'shoes',
    minPrice: 40,
    maxPrice: 450,
    weight: 10,
    nouns: ['Sneakers', 'Runners', 'High-Tops', 'Trainers', 'Ones', 'Kicks'],
  },
  {
    name: 'Dress Shoes',
    sizes: 'shoes',
    minPrice: 60,
    maxPrice: 350,
    weight: 5,
    nouns: ['Oxfords', 'Loafers', 'Brogues', 'Suede Shoes'],
  },
  {
    name: 'Boots',
    sizes: 'shoes',
    minPrice: 60,
    maxPrice: 400,
    weight: 5,
    nouns: ['Boots', 'Chelsea Boots', 'Hikers'],
  },
  { name: 'Heels', sizes: 'shoes', minPrice: 40, maxPrice: 500, weight: 4, nouns: ['Heels', 'Pumps', 'Stilettos'] },
  {
    name: 'Accessories',
    sizes: 'one size',
    minPrice: 5,
    maxPrice: 600,
    weight: 8,
    nouns: ['Sunglasses', 'Watch', 'Belt', 'Scarf', 'Wallet', 'Stone'],
  },
  {
    name: 'Hats',
    sizes: 'one size',
    minPrice: 10,
    maxPrice: 80,
    weight: 5,
    nouns: ['Cap', 'Beanie', 'Fedora', 'Bucket Hat'],
  },
  { name: 'Bags', sizes: 'one size', minPrice: 20, maxPrice: 900, weight: 4, nouns: ['Tote', 'Backpack', 'Duffel'] },
  {
    name: 'Socks',
    sizes: 'one size',
    minPrice: 5,
    maxPrice: 30,
    weight: 5,
    nouns: ['Socks', 'Crew Socks', 'Ankle Socks'],
  },
];

const CATEGORY_CUMULATIVE: number[] = [];
{
  const total = CATEGORIES.reduce((sum, category) => sum + category.weight, 0);
  let running = 0;
  for (const category of CATEGORIES) {
    running += category.weight;
    CATEGORY_CUMULATIVE.push(running / total);
  }
}

/** Star ratings 1..5, skewed positive like most storefronts. */
const RATING_CUMULATIVE = [0.07, 0.15, 0.3, 0.6, 1];

/** Dates span 2018-01-01 to 2021-12-31 (UTC), in epoch milliseconds. */
export const FIRST_DATE_MS = Date.UTC(2018, 0, 1);
export const END_DATE_MS = Date.UTC(2022, 0, 1);

/** One stream of hashed uniforms per kind of fact, so facts never correlate by accident. */
enum Salt {
  Features = 1,
  Styles,
  DefaultStyle,
  Photos,
  Skus,
  Related,
  Reviews,
  Characteristics,
  Questions,
  Answers,
  AnswerIds,
  ReviewPhotos,
  AnswerPhotos,
  Category,
  Price,
  Rating,
  QuestionDate,
}

export class Shape {
  readonly products: number;
  readonly cartRows: number;
  private readonly units: HashedUnit[] = [];

  constructor(
    readonly seed: number,
    readonly scale: number,
  ) {
    this.products = Math.max(1, Math.round(PRODUCTS * scale));
    this.cartRows = Math.round(REAL_ROWS['cart.csv'] * scale);
    for (let salt = 0; salt <= Salt.QuestionDate; salt++) this.units.push(new HashedUnit(seed, salt));
  }

  private unit(salt: Salt, id: number, draw = 0): number {
    return this.units[salt]!.at(id, draw);
  }

  /** A count with the given mean, spread uniformly between 0 and about twice the mean. */
  private evenCount(salt: Salt, id: number, mean: number): number {
    return stochasticCount(mean, 2 * this.unit(salt, id, 0), this.unit(salt, id, 1));
  }

  /** A count with the given mean and a long exponential tail (many zeros, a few large). */
  private tailedCount(salt: Salt, id: number, mean: number): number {
    return stochasticCount(mean, exponentialWeight(this.unit(salt, id, 0)), this.unit(salt, id, 1));
  }

  featureCount(productId: number): number {
    return this.evenCount(Salt.Features, productId, MEAN.featuresPerProduct);
  }

  styleCount(productId: number): number {
    if (this.unit(Salt.Styles, productId, 0) < PRODUCTS_WITHOUT_STYLES) return 0;
    // At least one style, then a Gamma(2)-weighted number more: mostly 1-4, a tail to a dozen.
    const weight =
      (exponentialWeight(this.unit(Salt.Styles, productId, 1)) +
        exponentialWeight(this.unit(Salt.Styles, productId, 2))) /
      2;
    return (
      1 +
      stochasticCount(
        MEAN.stylesPerProduct / (1 - PRODUCTS_WITHOUT_STYLES) - 1,
        weight,
        this.unit(Salt.Styles, productId, 3),
      )
    );
  }

  /** Index of the product's default style among its styles, or -1 when it has none. */
  defaultStyleIndex(productId: number, styleCount: number): number {
    if (this.unit(Salt.DefaultStyle, productId, 0) >= PRODUCTS_WITH_DEFAULT_STYLE) return -1;
    return Math.floor(this.unit(Salt.DefaultStyle, productId, 1) * styleCount);
  }

  photoCount(styleId: number): number {
    return this.evenCount(Salt.Photos, styleId, MEAN.photosPerStyle);
  }

  skuCount(styleId: number): number {
    return this.evenCount(Salt.Skus, styleId, MEAN.skusPerStyle);
  }

  /** Rows of related.csv for the product, dirty ones included (at most MAX_RELATED_PER_PRODUCT). */
  relatedCount(productId: number): number {
    return this.evenCount(Salt.Related, productId, MEAN.relatedPerProduct);
  }

  reviewCount(productId: number): number {
    if (this.unit(Salt.Reviews, productId, 0) < PRODUCTS_WITHOUT_REVIEWS) return 0;
    const weight = logNormalWeight(
      REVIEW_COUNT_SIGMA,
      this.unit(Salt.Reviews, productId, 1),
      this.unit(Salt.Reviews, productId, 2),
    );
    return stochasticCount(
      MEAN.reviewsPerProduct / (1 - PRODUCTS_WITHOUT_REVIEWS),
      weight,
      this.unit(Salt.Reviews, productId, 3),
    );
  }

  /** Which CHARACTERISTIC_NAMES the product has, as a bitmask (1 to 6 of them). */
  characteristicMask(productId: number): number {
    // A weight uniform on [0.3, 1.7] keeps the count between 1 and 6 with the real mean.
    const weight = 0.3 + 1.4 * this.unit(Salt.Characteristics, productId, 0);
    const count = stochasticCount(
      MEAN.characteristicsPerProduct,
      weight,
      this.unit(Salt.Characteristics, productId, 1),
    );
    const subsets = CHARACTERISTIC_SUBSETS[count]!;
    return subsets[Math.floor(this.unit(Salt.Characteristics, productId, 2) * subsets.length)]!;
  }

  questionCount(productId: number): number {
    return this.tailedCount(Salt.Questions, productId, MEAN.questionsPerProduct);
  }

  answerCount(questionId: number): number {
    return this.tailedCount(Salt.Answers, questionId, MEAN.answersPerQuestion);
  }

  /** Gap between the ids of the n-th and (n-1)-th answers: 1 to 3, so ids run sparse. */
  answerIdStep(answerOrdinal: number): number {
    return 1 + this.evenCount(Salt.AnswerIds, answerOrdinal, MEAN.answerIdStride - 1);
  }

  reviewPhotoCount(reviewId: number): number {
    return this.photoCountOf(Salt.ReviewPhotos, reviewId, REVIEWS_WITH_PHOTOS, MEAN.photosPerReview);
  }

  answerPhotoCount(answerId: number): number {
    return this.photoCountOf(Salt.AnswerPhotos, answerId, ANSWERS_WITH_PHOTOS, MEAN.photosPerAnswer);
  }

  /** Most posts have no photo, those that do mostly have one. */
  private photoCountOf(salt: Salt, id: number, shareWithPhotos: number, mean: number): number {
    if (this.unit(salt, id, 0) >= shareWithPhotos) return 0;
    return (
      1 + stochasticCount(mean / shareWithPhotos - 1, exponentialWeight(this.unit(salt, id, 1)), this.unit(salt, id, 2))
    );
  }

  category(productId: number): Category {
    const unit = this.unit(Salt.Category, productId);
    let index = 0;
    while (CATEGORY_CUMULATIVE[index]! <= unit) index++;
    return CATEGORIES[index]!;
  }

  /** Whole-unit price, skewed towards the cheap end of the category's range. */
  price(productId: number, category: Category): number {
    const unit = this.unit(Salt.Price, productId);
    return category.minPrice + Math.floor(unit * unit * (category.maxPrice - category.minPrice + 1));
  }

  rating(reviewId: number): number {
    const unit = this.unit(Salt.Rating, reviewId);
    let stars = 1;
    while (RATING_CUMULATIVE[stars - 1]! <= unit) stars++;
    return stars;
  }

  questionDate(questionId: number): number {
    return FIRST_DATE_MS + Math.floor(this.unit(Salt.QuestionDate, questionId) * (END_DATE_MS - FIRST_DATE_MS));
  }
}

/** A cursor over rows of one level of the catalogue tree, in id order. */
export interface Walk {
  /** Id of the current row (valid after next() returned true). */
  readonly id: number;
  next(): boolean;
}

export class ProductWalk implements Walk {
  id = 0;

  constructor(private readonly shape: Shape) {}

  next(): boolean {
    if (this.id >= this.shape.products) return false;
    this.id++;
    return true;
  }
}

/**
 * Products with their characteristics: characteristic ids are handed out in product order, so
 * the product's first characteristic id is the running total of the earlier products'.
 */
export class CharacteristicsWalk implements Walk {
  id = 0;
  mask = 0;
  count = 0;
  firstCharacteristicId = 1;

  constructor(private readonly shape: Shape) {}

  next(): boolean {
    if (this.id >= this.shape.products) return false;
    this.firstCharacteristicId += this.count;
    this.id++;
    this.mask = this.shape.characteristicMask(this.id);
    this.count = bitCount(this.mask);
    return true;
  }
}

/**
 * The children of every row of a parent walk, in order: `countOf(parentId)` of them per parent,
 * ids increasing by `idStep(ordinal)` (1 for dense ids).
 */
export class ChildWalk<Parent extends Walk = Walk> implements Walk {
  id = 0;
  /** Position of the current row among its parent's children, and how many there are. */
  index = 0;
  count = 0;
  private ordinal = 0;

  constructor(
    readonly parent: Parent,
    private readonly countOf: (parentId: number) => number,
    private readonly idStep: (ordinal: number) => number = () => 1,
  ) {}

  next(): boolean {
    this.index++;
    while (this.index >= this.count) {
      if (!this.parent.next()) return false;
      this.count = this.countOf(this.parent.id);
      this.index = 0;
    }
    this.id += this.idStep(++this.ordinal);
    return true;
  }
}

export function styleWalk(shape: Shape): ChildWalk {
  return new ChildWalk(new ProductWalk(shape), (productId) => shape.styleCount(productId));
}

/** Reviews; the parent walk tells the characteristics of the review's product. */
export function reviewWalk(shape: Shape): ChildWalk<CharacteristicsWalk> {
  return new ChildWalk(new CharacteristicsWalk(shape), (productId) => shape.reviewCount(productId));
}

export function questionWalk(shape: Shape): ChildWalk {
  return new ChildWalk(new ProductWalk(shape), (productId) => shape.questionCount(productId));
}

export function answerWalk(shape: Shape): ChildWalk<ChildWalk> {
  return new ChildWalk(
    questionWalk(shape),
    (questionId) => shape.answerCount(questionId),
    (ordinal) => shape.answerIdStep(ordinal),
  );
}
