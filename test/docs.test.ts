/**
 * The README and docs/ are what a fresh clone has to read: every relative link must land on a
 * file of the repository (and on a heading of it, when it names one), and nothing may send the
 * reader outside the clone.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const PAGES = [
  'README.md',
  ...readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** The page without fenced code blocks and inline code, where brackets are not links. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** Link and image targets: `[text](target)` and `![alt](target)`, titles dropped. */
function linkTargets(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1]!);
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading] of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const slug = heading!
      .replace(/`/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const repeats = seen.get(slug) ?? 0;
    seen.set(slug, repeats + 1);
    result.add(repeats === 0 ? slug : `${slug}-${repeats}`);
  }
  return result;
}

const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);

t.test('the README and every docs page exist, and docs/ is linked from the README', async (t) => {
  t.ok(PAGES.includes('docs/api.md'), 'docs/api.md exists');
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const page of PAGES.filter((page) => page.startsWith('docs/'))) {
    t.ok(linkTargets(readme).includes(page), `README links ${page}`);
  }
  t.ok(readme.split('\n').length <= 160, 'the README stays short');
});

for (const page of PAGES) {
  t.test(`${page}: every relative link resolves inside the repository`, async (t) => {
    const text = readFileSync(path.join(root, page), 'utf8');
    t.notMatch(text, /\.\.\/shared/, 'no mention of ../shared (a clone has none beside it)');
    for (const target of linkTargets(text)) {
      if (isExternal(target)) {
        t.match(target, /^https?:\/\//, `${target}: only web links leave the repository`);
        continue;
      }
      const [file = '', anchor] = target.split('#');
      const resolved = file === '' ? path.join(root, page) : path.resolve(root, path.dirname(page), file);
      const relative = path.relative(root, resolved);
      if (relative.startsWith('..') || path.isAbsolute(relative)) {
        t.fail(`${target} points outside the repository`);
        continue;
      }
      if (!existsSync(resolved)) {
        t.fail(`${target}: ${relative} does not exist`);
        continue;
      }
      if (anchor === undefined || anchor === '') {
        t.pass(`${target} exists`);
        continue;
      }
      if (statSync(resolved).isFile() && resolved.endsWith('.md')) {
        t.ok(anchors(readFileSync(resolved, 'utf8')).has(anchor), `${target}: ${relative} has a heading #${anchor}`);
      }
    }
  });
}

t.test('heading anchors follow GitHub', async (t) => {
  t.same(
    [...anchors('# Ratings & reviews\n## `GET /products/:id`\n```\n# not a heading\n```\n## Runs\n## Runs\n')],
    ['ratings--reviews', 'get-productsid', 'runs', 'runs-1'],
  );
  t.same(linkTargets('[a](docs/api.md#x) `[b](nope.md)` ![c](<img.svg> "t")'), ['docs/api.md#x', 'img.svg']);
});
