import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { DEFAULT_POLICY } from '../cluster/primary.js';
import { loadConfig } from '../lib/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UNIT = path.join(root, 'systemd/atelier-api.service');
const ENV_TEMPLATE = path.join(root, 'systemd/atelier-api.env');
const INSTALL = path.join(root, 'systemd/install.sh');

/** Every value of every key of the unit, in order (a key may repeat, as systemd allows). */
async function unitSettings(): Promise<Map<string, string[]>> {
  const settings = new Map<string, string[]>();
  for (const line of (await readFile(UNIT, 'utf8')).split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) settings.set(match[1]!, [...(settings.get(match[1]!) ?? []), match[2]!]);
  }
  return settings;
}

function seconds(value: string | undefined): number {
  const match = /^(\d+)s?$/.exec(value ?? '');
  return match ? Number(match[1]) : Number.NaN;
}

const hasAnalyze = !spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).error;

t.test(
  'systemd-analyze verify accepts the unit without a warning',
  { skip: !hasAnalyze && !process.env.CI && 'systemd-analyze is not installed' },
  async (t) => {
    const verify = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    t.equal(verify.error, undefined, 'systemd-analyze runs (CI installs it: .ci/run)');
    t.equal(verify.status, 0, verify.stderr);
    // Unknown keys and unparsable values are only warnings, with exit status 0.
    t.equal(verify.stderr, '', 'no warning');
    const security = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=20', UNIT], {
      encoding: 'utf8',
    });
    t.equal(
      security.status,
      0,
      `exposure level at most 2.0 of 10: ${/Overall exposure level[^\n]*/.exec(security.stdout)?.[0]}`,
    );
  },
);

t.test('the unit is hardened and stops, restarts and reloads the way the cluster expects', async (t) => {
  const unit = await unitSettings();
  const one = (key: string): string | undefined => unit.get(key)?.at(-1);
  const expected: Record<string, string> = {
    ProtectSystem: 'strict',
    ReadWritePaths: '/var/lib/atelier-api',
    NoNewPrivileges: 'yes',
    PrivateTmp: 'yes',
    CapabilityBoundingSet: '',
    KillMode: 'mixed',
    Restart: 'on-failure',
    OOMPolicy: 'continue',
    ExecReload: '/bin/kill -HUP $MAINPID',
    User: 'atelier',
  };
  for (const [key, value] of Object.entries(expected)) t.equal(one(key), value, `${key}=${value}`);
  for (const key of ['LimitNOFILE', 'MemoryMax', 'RestartSec', 'StartLimitIntervalSec', 'StartLimitBurst']) {
    t.ok(one(key), `${key} is set`);
  }
  t.notOk(unit.has('MemoryDenyWriteExecute'), 'no MemoryDenyWriteExecute: V8 would die');
  t.ok(unit.get('Environment')?.includes('DATA_DIR=/var/lib/atelier-api'), 'DATA_DIR is the writable directory');

  const config = loadConfig({});
  const drainSeconds = (config.drainLingerMs + config.drainTimeoutMs + DEFAULT_POLICY.exitMarginMs) / 1000;
  t.ok(
    seconds(one('TimeoutStopSec')) > drainSeconds,
    `TimeoutStopSec (${one('TimeoutStopSec')}) leaves the ${drainSeconds} s drain time to finish`,
  );
});

t.test('the environment template documents every setting the service reads', async (t) => {
  const source = await readFile(path.join(root, 'lib/config.ts'), 'utf8');
  const read = new Set([...source.matchAll(/env(?:, '|\.)([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!));
  t.ok(read.size >= 15, `found the settings in lib/config.ts (${[...read].join(', ')})`);
  const template = await readFile(ENV_TEMPLATE, 'utf8');
  const documented = new Set([...template.matchAll(/^#?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!));
  t.same(
    [...read].filter((name) => name !== 'DATA_DIR' && !documented.has(name)),
    [],
    'each has its line',
  );
  t.match(template, /DATA_DIR is set by the unit/, 'DATA_DIR is explained (the unit sets it)');
  t.same(
    [...template.matchAll(/^([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]),
    [],
    "nothing set: every default stays the code's",
  );
});

// Only what installs nothing: run as root without arguments, the script installs the service.
t.test('install.sh is valid bash and refuses arguments it does not know', async (t) => {
  t.equal(spawnSync('bash', ['-n', INSTALL]).status, 0, 'bash -n');
  for (const args of [['build'], ['upgrade']]) {
    const usage = spawnSync('bash', [INSTALL, ...args], { encoding: 'utf8' });
    t.equal(usage.status, 1, `install.sh ${args.join(' ')} exits 1`);
    t.match(usage.stderr, /usage: .*build SRC DEST/, 'with the usage');
  }
});
