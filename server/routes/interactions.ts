/**
 * POST /interactions: one row per click, the highest-volume write. Rows are batched by the
 * worker (server/writes.ts), and the 201 is sent once the row's batch has committed.
 */
import { created, mount, readJsonBody } from '../http.js';
import type { TemplatedApp } from '../uws.js';
import { body, text } from '../validate.js';
import type { RouteContext } from './context.js';

const MAX_LENGTH = 200;
const STORED = created('{}');

/** The POST /interactions body: element, widget and time, each a string of 1 to 200 characters. */
export const INTERACTION_BODY = body({
  element: text(1, MAX_LENGTH),
  widget: text(1, MAX_LENGTH),
  time: text(1, MAX_LENGTH),
});

export function mountInteractionRoutes(app: TemplatedApp, { exchanges, writes }: RouteContext): void {
  mount(app, exchanges, '/interactions', {
    post: async (req, res) => {
      await writes.clicks.store(INTERACTION_BODY.parse(await readJsonBody(req, res)));
      return STORED;
    },
  });
}
