/**
 * The one write path: every write the API takes is built here, and each is wired the same way. Its
 * statement runs alone (reports, cart adds) or batched with others of its kind (helpful votes, new
 * reviews, questions and answers, clicks: server/write-batcher.ts), and the write resolves only
 * once the statement has committed and the cached bodies it changed are invalidated
 * (CacheCoherence.written; each item of a batch for what it changed itself). A route answers its
 * 201 or 204 when the write resolves, so an acknowledged write is stored and read back at once.
 */
import type { Pool } from '../sql/db/pool.js';
import type { Domain } from './admission.js';
import { addProduct, addSku, type CartOwner } from '../sql/queries/cart.js';
import { insertInteractions, type Interaction } from '../sql/queries/interactions.js';
import type { Written } from '../sql/queries/invalidation.js';
import {
  createAnswers,
  createQuestions,
  reportAnswer,
  reportQuestion,
  type AnswerTo,
  type Created,
  type NewAnswer,
  type NewQuestion,
} from '../sql/queries/qa.js';
import { createReviews, reportReview, type CreateReviewResult, type NewReview } from '../sql/queries/reviews.js';
import { voteForAnswers, voteForQuestions, voteForReviews, type CastVotes } from '../sql/queries/votes.js';
import type { CacheCoherence } from './invalidation.js';
import {
  CLICK_BATCHING,
  QA_CREATE_BATCHING,
  REVIEW_CREATE_BATCHING,
  VOTE_BATCHING,
  WriteBatcher,
  type WriteBatcherOptions,
} from './write-batcher.js';

/** Changes the row with this id (a helpful vote, a report); false when no row has that id. */
export type ChangeRow = (id: number) => Promise<boolean>;

/** Each post kind can be marked helpful and reported. */
export interface PostWrites {
  readonly helpful: ChangeRow;
  readonly report: ChangeRow;
}

export interface Writes {
  readonly reviews: PostWrites & {
    create(review: NewReview): Promise<CreateReviewResult>;
  };
  readonly questions: PostWrites & {
    /** The new question's id; undefined when its product does not exist. */
    create(question: NewQuestion): Promise<number | undefined>;
  };
  readonly answers: PostWrites & {
    /** The new answer's id; undefined when the question is unknown or reported. */
    create(questionId: number, answer: NewAnswer): Promise<number | undefined>;
  };
  /**
   * Cart adds change no cached body (cart reads are not cached): each resolves once committed,
   * false when its sku or product does not exist.
   */
  readonly cart: {
    addSku(owner: CartOwner, skuId: number): Promise<boolean>;
    addProduct(userSession: number, productId: number): Promise<boolean>;
  };
  /** A click changes no cached body: it resolves once committed. */
  readonly clicks: { store(interaction: Interaction): Promise<void> };
  /** Stops taking batched writes; resolves once every one taken is committed or refused. */
  close(): Promise<void>;
}

/** Each write runs through the gated pool of the domain whose tables it changes. */
export function createWrites(pools: Readonly<Record<Domain, Pool>>, coherence: CacheCoherence): Writes {
  /** `outcome`, once what the write changed (if anything) is invalidated. */
  const invalidated = async <Outcome>(outcome: Outcome, written: Written | undefined): Promise<Outcome> => {
    if (written !== undefined) await coherence.written(written);
    return outcome;
  };
  const changeRow =
    (write: (id: number) => Promise<Written | undefined>): ChangeRow =>
    async (id) => {
      const written = await write(id);
      return invalidated(written !== undefined, written);
    };

  const clicks = new WriteBatcher<Interaction, void>(async (rows) => {
    await insertInteractions(pools.shopping, rows);
    return rows.map(() => undefined);
  }, CLICK_BATCHING);
  const batchers: { close(): Promise<void> }[] = [clicks];
  const votes = (cast: CastVotes, pool: Pool): ChangeRow => {
    const batcher = new WriteBatcher((ids: readonly number[]) => cast(pool, ids), VOTE_BATCHING);
    batchers.push(batcher);
    return changeRow((id) => batcher.add(id));
  };
  /** Each item's outcome, once what it wrote (if anything) is invalidated. */
  const creates = <Item, Outcome>(
    create: (pool: Pool, items: readonly Item[]) => Promise<readonly Outcome[]>,
    pool: Pool,
    options: WriteBatcherOptions,
    written: (outcome: Outcome) => Written | undefined,
  ): ((item: Item) => Promise<Outcome>) => {
    const batcher = new WriteBatcher((items: readonly Item[]) => create(pool, items), options);
    batchers.push(batcher);
    return async (item) => {
      const outcome = await batcher.add(item);
      return invalidated(outcome, written(outcome));
    };
  };
  /** The new post's id, or undefined where the statement stored nothing for the item. */
  const createsPost = <Item>(
    create: (pool: Pool, items: readonly Item[]) => Promise<readonly (Created | undefined)[]>,
  ): ((item: Item) => Promise<number | undefined>) => {
    const post = creates(create, pools.qa, QA_CREATE_BATCHING, (outcome) => outcome?.written);
    return async (item) => (await post(item))?.id;
  };
  const createAnswer = createsPost<AnswerTo>(createAnswers);

  return {
    reviews: {
      create: creates(createReviews, pools.reviews, REVIEW_CREATE_BATCHING, (outcome) =>
        outcome.created ? outcome.written : undefined,
      ),
      helpful: votes(voteForReviews, pools.reviews),
      report: changeRow((id) => reportReview(pools.reviews, id)),
    },
    questions: {
      create: createsPost(createQuestions),
      helpful: votes(voteForQuestions, pools.qa),
      report: changeRow((id) => reportQuestion(pools.qa, id)),
    },
    answers: {
      create: (questionId, answer) => createAnswer({ questionId, answer }),
      helpful: votes(voteForAnswers, pools.qa),
      report: changeRow((id) => reportAnswer(pools.qa, id)),
    },
    cart: {
      addSku: (owner, skuId) => addSku(pools.shopping, owner, skuId),
      addProduct: (userSession, productId) => addProduct(pools.shopping, userSession, productId),
    },
    clicks: { store: (interaction) => clicks.add(interaction) },
    close: async () => {
      await Promise.all(batchers.map((batcher) => batcher.close()));
    },
  };
}
