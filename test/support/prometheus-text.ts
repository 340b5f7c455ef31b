/**
 * A small reader of Prometheus' text exposition format (0.0.4), enough for the tests to
 * check what /metrics says without trusting the library that wrote it: families with
 * their HELP and TYPE, and samples with their labels and values.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let found = families.get(name);
    if (!found) families.set(name, (found = { name, type: 'untyped', help: '', samples: [] }));
    return found;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const comment = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (comment) {
      if (comment[1] === 'HELP') family(comment[2]!).help = comment[3]!;
      else family(comment[2]!).type = comment[3]!;
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const [, name, labelText, value] = sample;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (labelText ?? '').matchAll(LABEL)) labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    family(familyOf(name!, families)).samples.push({ name: name!, labels, value: Number(value) });
  }
  return families;
}

/** A histogram's `_bucket`, `_sum` and `_count` samples belong to the family without the suffix. */
function familyOf(sampleName: string, families: Map<string, Family>): string {
  for (const suffix of HISTOGRAM_SUFFIXES) {
    const base = sampleName.slice(0, -suffix.length);
    if (sampleName.endsWith(suffix) && families.get(base)?.type === 'histogram') return base;
  }
  return sampleName;
}

/** The value of the one sample of `family` whose labels include `labels`; undefined when none. */
export function valueOf(families: Map<string, Family>, family: string, labels: Record<string, string> = {}, sampleName = family): number | undefined {
  return families
    .get(family)
    ?.samples.find((s) => s.name === sampleName && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
