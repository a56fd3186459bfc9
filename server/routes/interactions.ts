/**
 * POST /interactions: one row per click, the highest-volume write. Rows go through the worker's
 * InteractionsBuffer, and the 201 is sent once the row's batch has committed (see
 * server/interactions-buffer.ts for why).
 */
import type { Interaction } from '../../sql/queries/interactions.js';
import { created, mount, readJsonBody, type Exchanges } from '../http.js';
import type { InteractionsBuffer } from '../interactions-buffer.js';
import { jsonObject, text } from '../validate.js';
import type { TemplatedApp } from '../uws.js';

const MAX_LENGTH = 200;
const STORED = created('{}');

/** The POST /interactions body: element, widget and time, each a string of 1 to 200 characters. */
function parseInteraction(input: unknown): Interaction {
  const fields = jsonObject(input);
  return {
    element: text(fields, 'element', 1, MAX_LENGTH),
    widget: text(fields, 'widget', 1, MAX_LENGTH),
    time: text(fields, 'time', 1, MAX_LENGTH),
  };
}

export function mountInteractionRoutes(app: TemplatedApp, exchanges: Exchanges, buffer: InteractionsBuffer): void {
  mount(app, exchanges, '/interactions', {
    post: async (req, res) => {
      const interaction = parseInteraction(await readJsonBody(req, res));
      // Only a request that outlived the drain deadline gets here after the buffer closed.
      if (!buffer.accepting) return exchanges.unavailableReply;
      await buffer.add(interaction);
      return STORED;
    },
  });
}
