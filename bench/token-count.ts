// What counting a long input costs the event loop, in place and on a token count thread:
//
//   node bench/token-count.ts      # ~10 s; needs no wrk
//
// For prompts of code and of Chinese at several sizes, against a 128K and a 1M cap, it
// times measureChatInput on the event loop, then the same measure on a token count
// thread (src/limits/token-count-threads.ts) while monitorEventLoopDelay watches the loop.
// See docs/limits.md and bench/README.md.

import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { countJob, measureChatInput } from '../src/limits/token-count.ts';
import { TokenCountThreads } from '../src/limits/token-count-threads.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const code = ['src/limits/token-count.ts', 'src/gateway/chat-completions.ts', 'src/gateway/stream-relay.ts'].map((f) => fs.readFileSync(path.join(repoRoot, f), 'utf8')).join('\n');
const chinese = '我们的网关把请求转发给上游模型，并按照实际用量结算费用。这段文字用于测试中文分词的速度。';

/** About `bytes` of UTF-8 from `source` repeated (cut on a character, not a byte). */
function prompt(source: string, bytes: number): Record<string, any> {
  const perChar = Buffer.byteLength(source) / source.length;
  const chars = Math.round(bytes / perChar);
  return { messages: [{ role: 'user', content: source.repeat(Math.ceil(chars / source.length)).slice(0, chars) }] };
}

const pool = new TokenCountThreads({ size: 1 });
await pool.measure(countJob('chat', prompt(code, 200_000), 128_000)!); // the thread has loaded
console.log('input            cap        tokens   counted  in place   on a thread: loop held up to');
for (const [name, source] of [['code', code], ['Chinese', chinese]] as const) {
  for (const kb of [150, 600, 1_200, 4_000]) {
    for (const cap of [128_000, 1_000_000]) {
      const body = prompt(source, kb * 1000);
      measureChatInput(body, cap);
      const t0 = performance.now();
      const m = measureChatInput(body, cap);
      const inPlace = performance.now() - t0;
      const job = countJob('chat', body, cap);
      let held = '-';
      if (job) {
        const h = monitorEventLoopDelay({ resolution: 1 });
        h.enable();
        await pool.measure(job);
        h.disable();
        held = `${(h.max / 1e6).toFixed(1)} ms`;
      }
      console.log(`${`${name} ${kb} KB`.padEnd(17)}${String(cap).padEnd(11)}${String(m.tokens).padEnd(9)}${String(m.counted).padEnd(9)}${`${inPlace.toFixed(1)} ms`.padEnd(11)}${held}`);
    }
  }
}
await pool.close();
