// Instructions per request of the gateway (or the bare relay), thread by thread, under
// valgrind's callgrind: deterministic where wall-clock CPU on this shared VM is not.
//
//   node bench/callgrind.ts [--target gateway|bare] [--mode nonstream|stream]
//                           [--warmup N] [--requests N] [--concurrency N] [--keep] [--top N]
//                           [--perf-map]
//
// Starts the fake upstream (plain node) and the target under
// `valgrind --tool=callgrind --separate-threads=yes`, sends `--warmup` requests, zeroes
// the counters (callgrind_control -z), sends `--requests` more `--concurrency` at a
// time, dumps (callgrind_control -d), and prints instructions per request for the main
// thread, the journal thread (the one running SQLite) and the rest, each in total and
// net of V8's compilers (TurboFan, Maglev, Sparkplug), whose late work lands in any
// window. JIT-compiled JavaScript shows as ??? in callgrind: use it for totals, and
// `node --cpu-prof` to see which JS functions are hot; `--top N` lists the N native
// functions of most self cost in the main and journal threads; with `--perf-map` the
// target runs with `--perf-basic-prof` and JIT code in that list is named from
// /tmp/perf-<pid>.map (more instructions, since V8 logs code; for finding, not for
// comparing). See bench/README.md.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { installCleanupHooks } from './lib/children.ts';
import { startBare, startGateway, startUpstream, type TargetContext } from './lib/targets.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'gateway' },
    mode: { type: 'string', default: 'nonstream' },
    warmup: { type: 'string', default: '3000' },
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
    keep: { type: 'boolean', default: false },
    top: { type: 'string', default: '0' },
    'perf-map': { type: 'boolean', default: false },
  },
});
const target = values.target!;
const stream = values.mode === 'stream';
const warmup = Number(values.warmup);
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
if (!['gateway', 'bare'].includes(target) || !['nonstream', 'stream'].includes(values.mode!) || !(warmup >= 0) || !(requests > 0) || !(concurrency > 0)) {
  console.error('usage: node bench/callgrind.ts [--target gateway|bare] [--mode nonstream|stream] [--warmup N] [--requests N] [--concurrency N] [--keep]');
  process.exit(2);
}

/** V8's optimising and baseline compilers: work that depends on when tiering happens, not on the request. */
const COMPILER = /v8::internal::(compiler|maglev|baseline)::|v8::internal::(Pipeline|OptimizingCompile|Maglev|Baseline)/;

/**
 * Self cost (Ir) per function name of one callgrind output file. The format compresses
 * names as "(id) name" on first use, and the cost line after a `calls=` line is the
 * call's inclusive cost, which belongs to the callee, not to the caller's self cost.
 */
function selfCosts(file: string): { total: number; byFn: Map<string, number> } {
  const names = new Map<string, string>();
  const byFn = new Map<string, number>();
  let fn = '';
  let skipNext = false;
  let total = 0;
  const name = (spec: string): string => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(spec);
    if (m === null) return spec;
    if (m[2] !== undefined) names.set(m[1]!, m[2]);
    return names.get(m[1]!) ?? spec;
  };
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const c = line.charCodeAt(0);
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
      // A cost line: position, then Ir.
      if (skipNext) {
        skipNext = false;
        continue;
      }
      const ir = Number(line.split(' ')[1] ?? 0);
      total += ir;
      byFn.set(fn, (byFn.get(fn) ?? 0) + ir);
    } else if (line.startsWith('fn=')) fn = name(line.slice(3));
    else if (line.startsWith('cfn=')) name(line.slice(4));
    else if (line.startsWith('calls=')) skipNext = true;
  }
  return { total, byFn };
}

/** Names JIT code from V8's perf map (`--perf-basic-prof`): callgrind calls it by address. */
function perfMap(pid: number): (fn: string) => string | undefined {
  let entries: Array<[number, number, string]> = [];
  try {
    entries = fs
      .readFileSync(`/tmp/perf-${pid}.map`, 'utf8')
      .split('\n')
      .map((l) => /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(l))
      .filter((m) => m !== null)
      .map((m): [number, number, string] => [parseInt(m[1]!, 16), parseInt(m[2]!, 16), m[3]!]);
  } catch {
    return () => undefined;
  }
  return (fn) => {
    if (!fn.startsWith('0x')) return undefined;
    const a = parseInt(fn, 16);
    // The last entry wins: code freed and replaced at the same address is logged again.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [start, size, name] = entries[i]!;
      if (a >= start && a < start + size) return `${fn} ${name}`;
    }
    return undefined;
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Sends `n` requests, `concurrency` at a time, each read to its end; any non-200 stops the run. */
async function drive(url: string, headers: Record<string, string>, body: string, n: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let sent = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.on('data', () => {});
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < n) {
        sent++;
        await one();
      }
    }),
  );
  agent.destroy();
}

installCleanupHooks();
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-callgrind-'));
const outBase = path.join(tmpDir, 'callgrind.out');
const { child: upstream, port: upstreamPort } = await startUpstream(repoRoot, tmpDir, null, []);
const ctx: TargetContext = {
  repoRoot,
  tmpDir,
  upstreamPort,
  core: null,
  nodeFlags: values['perf-map'] ? ['--perf-basic-prof'] : [],
  promptBytes: 0,
  wrapper: {
    argv: ['valgrind', '--tool=callgrind', '--separate-threads=yes', `--callgrind-out-file=${outBase}.%p`],
    startTimeoutMs: 600_000,
  },
};
const t = target === 'bare' ? await startBare(ctx) : await startGateway(ctx);
const pid = t.pid!;
try {
  const body = t.body(stream);
  await drive(t.url, t.headers, body, warmup);
  await sleep(500); // the journal's last batch of the warm-up
  execFileSync('callgrind_control', ['-z', String(pid)], { stdio: 'ignore' });
  const before = new Set(fs.readdirSync(tmpDir));
  await drive(t.url, t.headers, body, requests);
  await sleep(500); // the journal commits the window's last rows
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  const dumps = fs
    .readdirSync(tmpDir)
    .filter((f) => f.startsWith(`callgrind.out.${pid}`) && !before.has(f))
    .sort();
  if (dumps.length === 0) throw new Error(`no callgrind dump in ${tmpDir}`);

  const jitNames = perfMap(pid);
  const rows: Array<{ thread: string; total: number; net: number }> = [];
  for (const f of dumps) {
    const { total, byFn } = selfCosts(path.join(tmpDir, f));
    if (total === 0) continue;
    let compiler = 0;
    let sqlite = false;
    for (const [fn, ir] of byFn) {
      if (COMPILER.test(fn)) compiler += ir;
      if (fn.startsWith('sqlite3')) sqlite = true;
    }
    const thread = /-0*1$/.test(f) ? 'main' : sqlite ? 'journal' : `other ${f.slice(f.lastIndexOf('-') + 1)}`;
    rows.push({ thread, total, net: total - compiler });
    if (Number(values.top) > 0 && !thread.startsWith('other')) {
      const top = [...byFn].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
      console.log(`${thread}: top self cost per request`);
      for (const [fn, ir] of top) console.log(`  ${String(Math.round(ir / requests)).padStart(8)}  ${(jitNames(fn) ?? fn).slice(0, 150)}`);
    }
  }
  const per = (n: number): string => `${Math.round(n / requests / 1000).toLocaleString('en-US')}k`;
  const others = rows.filter((r) => r.thread.startsWith('other'));
  const sum = (rs: typeof rows, k: 'total' | 'net'): number => rs.reduce((a, r) => a + r[k], 0);
  const lines: Array<[string, number, number]> = [
    ...rows.filter((r) => !r.thread.startsWith('other')).map((r): [string, number, number] => [r.thread, r.total, r.net]),
    ['other threads', sum(others, 'total'), sum(others, 'net')],
    ['all threads', sum(rows, 'total'), sum(rows, 'net')],
  ];
  console.log(`${target} ${values.mode}: ${requests} requests after ${warmup}, ${concurrency} at a time; instructions per request`);
  console.log('thread          total     net of V8 compilers');
  for (const [name, total, net] of lines) console.log(`${name.padEnd(14)}${per(total).padStart(7)}  ${per(net).padStart(7)}`);
  if (values.keep) console.log(`dumps kept in ${tmpDir}`);
} finally {
  await t.stop();
  await upstream.stop();
  if (!values.keep) fs.rmSync(tmpDir, { recursive: true, force: true });
}
