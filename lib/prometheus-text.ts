/**
 * Reading the Prometheus text exposition (format 0.0.4) that GET /metrics answers with: the tests
 * check it line by line, the benchmark reads the cache's hit counters from it. The npm parser
 * (parse-prometheus-text-format, untyped, last built in 2019) answers in prom2json's shape:
 * families with string values and histograms nested, which both uses would flatten again; these
 * few regular expressions follow the format's grammar and refuse any line outside it.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*';
const LABEL_VALUE = '(?:[^"\\\\\\n]|\\\\.)*';
const LABEL = new RegExp(`(${LABEL_NAME})="(${LABEL_VALUE})"`, 'g');
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL_NAME}="${LABEL_VALUE}",?)*)\\})? (\\S+)$`);
const COMMENT_LINE = new RegExp(`^# (?:HELP ${NAME} .*|TYPE ${NAME} (?:counter|gauge|histogram|summary|untyped))$`);

/** The samples of a Prometheus text exposition; throws on any line outside the format. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || COMMENT_LINE.test(line)) continue;
    const match = SAMPLE_LINE.exec(line);
    const value = Number(match?.[3]);
    if (!match || Number.isNaN(value)) throw new Error(`not a Prometheus text line: ${JSON.stringify(line)}`);
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(LABEL)].map(([, name, labelValue]) => [name!, labelValue!]),
    );
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** The sum of the samples of `name` whose labels include `labels`; undefined if there is none. */
export function total(
  samples: readonly Sample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  const matching = samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  return matching.length === 0 ? undefined : matching.reduce((sum, sample) => sum + sample.value, 0);
}
