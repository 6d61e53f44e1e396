// A strict reader of Prometheus' text exposition format (0.0.4), as the Go parser
// (expfmt) reads it: what Prometheus would refuse, or read differently, is an error here.
// It returns every problem, not the first, and the samples it read.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** As Go's strconv.ParseFloat reads it: NaN and Inf in any case (prom-client writes "Nan"). */
function parseValue(text: string): number | null {
  if (/^nan$/i.test(text)) return NaN;
  if (/^\+?inf(inity)?$/i.test(text)) return Infinity;
  if (/^-inf(inity)?$/i.test(text)) return -Infinity;
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : null;
}

/** `{a="x",b="y"}` from `i` (at `{`): the labels and where they end, or an error. */
function parseLabels(line: string, i: number): { labels: Record<string, string>; end: number } | string {
  const labels: Record<string, string> = {};
  i++;
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 };
    const eq = line.indexOf('=', i);
    if (eq === -1) return 'label without =';
    const name = line.slice(i, eq);
    if (!LABEL.test(name)) return `bad label name ${JSON.stringify(name)}`;
    if (name.startsWith('__')) return `reserved label name ${name}`;
    if (name in labels) return `duplicate label ${name}`;
    if (line[eq + 1] !== '"') return `label ${name}: value not quoted`;
    let v = '';
    let j = eq + 2;
    for (;;) {
      const c = line[j];
      if (c === undefined) return `label ${name}: unterminated value`;
      if (c === '"') break;
      if (c === '\\') {
        const e = line[j + 1];
        if (e === '\\') v += '\\';
        else if (e === '"') v += '"';
        else if (e === 'n') v += '\n';
        else return `label ${name}: bad escape \\${e}`;
        j += 2;
        continue;
      }
      v += c;
      j++;
    }
    labels[name] = v;
    i = j + 1;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') return `label ${name}: expected , or } after the value`;
  }
}

export function checkExposition(text: string): { problems: string[]; samples: Sample[] } {
  const problems: string[] = [];
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const done = new Set<string>(); // families whose samples have ended
  const series = new Set<string>();
  let current: string | null = null;
  const familyOf = (name: string): string => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && (types.get(base) === 'histogram' || types.get(base) === 'summary')) return base;
    }
    return name;
  };
  const enter = (family: string, where: string) => {
    if (current === family) return;
    if (current !== null) done.add(current);
    if (done.has(family)) problems.push(`${where}: family ${family} appears again after another one`);
    current = family;
  };

  if (!text.endsWith('\n')) problems.push('the text does not end with a newline');
  text.split('\n').forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) problems.push(`${where}: bad metric name ${name}`);
      enter(name, where);
      if (kind === 'HELP') {
        if (helps.has(name)) problems.push(`${where}: second HELP for ${name}`);
        helps.add(name);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) problems.push(`${where}: bad escape in HELP`);
      } else {
        if (types.has(name)) problems.push(`${where}: second TYPE for ${name}`);
        if (!TYPES.has(rest)) problems.push(`${where}: unknown type ${rest}`);
        if (samples.some((s) => familyOf(s.name) === name)) problems.push(`${where}: TYPE for ${name} after its samples`);
        types.set(name, rest);
      }
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    const name = nameEnd === -1 ? line : line.slice(0, nameEnd);
    if (!NAME.test(name)) return void problems.push(`${where}: bad metric name ${JSON.stringify(name)}`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (line[i] === '{') {
      const l = parseLabels(line, i);
      if (typeof l === 'string') return void problems.push(`${where}: ${l}`);
      labels = l.labels;
      i = l.end;
    }
    if (line[i] !== ' ') return void problems.push(`${where}: no value`);
    const parts = line.slice(i + 1).split(' ');
    if (parts.length > 2) return void problems.push(`${where}: trailing text`);
    const value = parseValue(parts[0]!);
    if (value === null) return void problems.push(`${where}: bad value ${JSON.stringify(parts[0])}`);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) problems.push(`${where}: bad timestamp`);
    const family = familyOf(name);
    enter(family, where);
    const type = types.get(family);
    if (type === 'counter' && (value < 0 || Number.isNaN(value))) problems.push(`${where}: counter ${name} is ${value}`);
    if (type === 'histogram' && name.endsWith('_bucket') && !('le' in labels)) problems.push(`${where}: bucket without le`);
    if ((type === 'counter' || type === 'gauge') && name !== family) problems.push(`${where}: sample ${name} in family ${family}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) problems.push(`${where}: duplicate series ${name}${JSON.stringify(labels)}`);
    series.add(key);
    samples.push({ name, labels, value });
  });

  // Histograms: per series, buckets ascending in le, cumulative, ending at +Inf = _count.
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const bySeries = new Map<string, { le: number; v: number }[]>();
    const key = (l: Record<string, string>) => JSON.stringify(Object.entries(l).filter(([k]) => k !== 'le').sort());
    for (const s of samples.filter((s) => s.name === `${family}_bucket`)) {
      const le = parseValue(s.labels.le ?? '');
      if (le === null) problems.push(`${family}: bad le ${s.labels.le}`);
      else (bySeries.get(key(s.labels)) ?? bySeries.set(key(s.labels), []).get(key(s.labels))!).push({ le, v: s.value });
    }
    for (const [k, buckets] of bySeries) {
      for (let i = 1; i < buckets.length; i++) {
        if (!(buckets[i]!.le > buckets[i - 1]!.le)) problems.push(`${family}${k}: le not ascending`);
        if (buckets[i]!.v < buckets[i - 1]!.v) problems.push(`${family}${k}: buckets not cumulative`);
      }
      const last = buckets[buckets.length - 1]!;
      if (last.le !== Infinity) problems.push(`${family}${k}: no +Inf bucket`);
      const count = samples.find((s) => s.name === `${family}_count` && key(s.labels) === k);
      if (!count || count.value !== last.v) problems.push(`${family}${k}: _count is not the +Inf bucket`);
      if (!samples.some((s) => s.name === `${family}_sum` && key(s.labels) === k)) problems.push(`${family}${k}: no _sum`);
    }
  }
  return { problems, samples };
}
