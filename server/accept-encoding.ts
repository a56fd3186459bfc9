/**
 * Accept-Encoding negotiation (RFC 9110 §12.5.3): which of a reply's representations a request
 * gets. A client's preference is its q-values (absent means 1, `q=0` refuses), `*` standing for
 * every coding it does not name, `x-gzip` for gzip (§8.4.1.3); names and `q` are compared
 * case-insensitively, whitespace around them ignored, and a malformed element is ignored alone.
 * Ties go to the smaller coding: br, then gzip, then identity.
 *
 * identity is acceptable unless refused (`identity;q=0`, or `*;q=0` without naming identity), and
 * when not named it comes after every coding the client accepts. No header, or an empty one, means
 * identity (the RFC allows any coding then; clients that can decode one say so). When the client
 * refuses identity and accepts nothing the reply has (a body too short to compress, say), it gets
 * identity anyway: the RFC lets a server disregard the field rather than answer 406, and a
 * storefront page is better served by a body it may not have asked for than by an error.
 *
 * A worker parses each distinct field value once: browsers send the same one on every request.
 * uWS gives the first Accept-Encoding line of a request only; clients and nginx send one.
 */
import { type ContentCoding, isTagged, type Reply, type TaggedReply } from './reply.js';

type Coding = ContentCoding | 'identity';

/** A request's acceptable codings among the server's, most preferred first. */
export type Preference = readonly Coding[];

/** The server's codings, smallest output first: the order ties are broken in. */
const SERVER_CODINGS: readonly Coding[] = ['br', 'gzip', 'identity'];
/** Below the smallest q-value a client can send (0.001): identity, when not named, comes last. */
const UNNAMED_IDENTITY = 0.0001;
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;
const IDENTITY: Preference = Object.freeze(['identity']);
/** Distinct field values remembered per worker; the memo starts over when it is full. */
const MEMO_LIMIT = 64;
const memo = new Map<string, Preference>();

/** The preference a request's Accept-Encoding field value (`''` when absent) states. */
export function acceptedCodings(field: string): Preference {
  if (field === '') return IDENTITY;
  let preference = memo.get(field);
  if (preference === undefined) {
    preference = parse(field);
    if (memo.size === MEMO_LIMIT) memo.clear();
    memo.set(field, preference);
  }
  return preference;
}

/**
 * The compressing of `reply` when a client of `preference` would take a coding that the cached
 * body has not been compressed into yet (server/cache.ts): the reply to send once it resolves.
 */
export function compressionFor(reply: Reply, preference: Preference): Promise<TaggedReply> | undefined {
  if (!isTagged(reply) || reply.encoded !== undefined || preference[0] === 'identity') return undefined;
  return reply.compressOnDemand?.();
}

/** The representation of `reply` to send to a client of `preference`. */
export function negotiate(reply: TaggedReply, preference: Preference): TaggedReply {
  const { encoded } = reply;
  if (encoded === undefined) return reply;
  for (const coding of preference) {
    if (coding === 'identity') return reply;
    const representation = encoded[coding];
    if (representation !== undefined) return representation;
  }
  return reply;
}

function parse(field: string): Preference {
  const weights = new Map<string, number>();
  for (const element of field.split(',')) {
    const [name = '', ...parameters] = element.split(';');
    const coding = name.trim().toLowerCase();
    const weight = weightOf(parameters);
    if (coding === '' || weight === undefined) continue;
    const canonical = coding === 'x-gzip' ? 'gzip' : coding;
    // A coding named twice keeps its first weight.
    if (!weights.has(canonical)) weights.set(canonical, weight);
  }
  const any = weights.get('*');
  const weight = (coding: Coding): number =>
    weights.get(coding) ?? any ?? (coding === 'identity' ? UNNAMED_IDENTITY : 0);
  const accepted = SERVER_CODINGS.filter((coding) => weight(coding) > 0);
  // Array.prototype.sort is stable: equal weights keep the server's order.
  return Object.freeze(accepted.sort((a, b) => weight(b) - weight(a)));
}

/** The q-value among an element's parameters: 1 when absent, undefined when malformed. */
function weightOf(parameters: readonly string[]): number | undefined {
  let weight = 1;
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=');
    if (equals === -1) return undefined;
    if (parameter.slice(0, equals).trim().toLowerCase() !== 'q') continue;
    const value = parameter.slice(equals + 1).trim();
    if (!QVALUE.test(value)) return undefined;
    weight = Number(value);
  }
  return weight;
}
