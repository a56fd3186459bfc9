/**
 * The dependency rule (docs/architecture.md), checked by `npm run lint` in CI.
 * Rooms depend only downward:  cluster, perf  →  server, ingest  →  generate, sql  →  lib.
 * test/ may import any room; no room may import test/ or perf/.
 */
const ROOMS = {
  lib: [],
  sql: ['lib'],
  generate: ['lib'],
  ingest: ['sql', 'lib'],
  server: ['sql', 'lib'],
  cluster: ['server', 'ingest', 'generate', 'sql', 'lib'],
  perf: ['cluster', 'server', 'ingest', 'generate', 'sql', 'lib'],
};
const ALL = [...Object.keys(ROOMS), 'test'];

const roomRules = Object.entries(ROOMS).map(([room, allowed]) => ({
  name: `${room}-imports-only-${allowed.join('-') || 'nothing'}`,
  comment: `${room}/ may import ${allowed.length ? allowed.map((r) => `${r}/`).join(', ') : 'no other room'} (docs/architecture.md)`,
  severity: 'error',
  from: { path: `^${room}/` },
  to: { path: `^(${ALL.filter((r) => r !== room && !allowed.includes(r)).join('|')})/` },
}));

module.exports = {
  forbidden: [
    ...roomRules,
    {
      name: 'no-circular',
      comment: 'no import cycle, inside a room or across rooms',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'only-the-driver-imports-pg',
      comment: 'sql/db/driver.ts is the one module that imports the PostgreSQL client packages',
      severity: 'error',
      from: { pathNot: '^sql/db/driver\\.ts$' },
      to: { path: '^node_modules/(pg|pg-copy-streams|pg-pool)/' },
    },
  ],
  options: {
    // TypeScript 7 ships no compiler API for dependency-cruiser to parse with; swc parses TS itself.
    parser: 'swc',
    // Type-only imports count: a cycle or an upward import of types is still a dependency.
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|build)/' },
  },
};
