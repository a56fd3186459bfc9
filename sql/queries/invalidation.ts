/**
 * Every write that changes what a product's cached bodies would say sends the product id on this
 * channel from inside its own statement, so the notification leaves exactly when the write
 * commits; every worker of every instance LISTENs and drops that product's cached bodies.
 */
export const INVALIDATION_CHANNEL = 'atelier_invalidate';
