import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../config/load.ts';
import { startGateway } from '../gateway/start.ts';
import { startSimulatedUpstream } from '../demo/simulated-upstream.ts';
import { adminCall } from './admin-client.ts';

// `tollgate demo`: the gateway beside a SIMULATED upstream, an account with a key and
// credit, a streamed answer printed live, and ready-to-paste curl and SDK snippets.

export async function demo(): Promise<void> {
  const upstream = await startSimulatedUpstream();
  const adminToken = `tg-admin-${randomBytes(24).toString('base64url')}`;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-demo-'));
  const port = Number(process.env.PORT ?? 8080);
  const config = validateConfig({
    listen: { host: '127.0.0.1', port },
    storage: `sqlite:${join(dir, 'demo.db')}`,
    admin_token: adminToken,
    logging: { level: 'warn' },
    providers: [{ id: 'simulated', kind: 'openai', base_url: upstream.baseUrl, api_key: 'not-a-real-key', simulated: true }],
    models: [{ id: 'demo-model', owned_by: 'tollgate-demo', context_window: 128_000, max_output_tokens: 4096, upstreams: [{ provider: 'simulated', model: 'simulated-model' }], pricing: { input: '0.16', cached_input: '0.004', output: '0.30' } }],
    plans: [{ id: 'demo', rpm: 60, concurrency: 10 }],
    default_plan: 'demo',
  });
  let gw;
  try {
    gw = await startGateway(config, { allowSimulated: true });
  } catch (err) {
    await upstream.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new Error(`port ${port} is in use; run with PORT=<another port> npm run demo`);
    throw err;
  }
  const t = { url: gw.url, token: adminToken };
  const account = (await adminCall(t, 'POST', '/accounts', { name: 'demo customer' })) as { id: string };
  await adminCall(t, 'POST', `/accounts/${account.id}/credits`, { amount_usd: '5.00', note: 'demo credit' }).catch(() => undefined);
  const { key } = (await adminCall(t, 'POST', `/accounts/${account.id}/keys`, { name: 'demo key' })) as { key: string };

  const say = (s = '') => process.stdout.write(`${s}\n`);
  say(`Tollgate demo: gateway on ${gw.url}, relaying to a SIMULATED upstream (no provider key needed).`);
  say(`Account ${account.id} has a key:\n  ${key}\n`);
  say('A streamed answer through the gateway:');
  process.stdout.write('  ');
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo-model', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Say hello.' }] }),
  });
  const decoder = new TextDecoder();
  let buf = '';
  let usage: unknown;
  for await (const chunk of res.body!) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const j = JSON.parse(line.slice(6));
      if (j.usage) usage = j.usage;
      const text = j.choices?.[0]?.delta?.content;
      if (text) process.stdout.write(text);
    }
  }
  say('\n');
  if (usage) say(`Usage reported at the end of the stream: ${JSON.stringify(usage)}\n`);
  say('Try it yourself:');
  say(`  curl -N ${gw.url}/v1/chat/completions \\`);
  say(`    -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" \\`);
  say(`    -d '{"model":"demo-model","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'`);
  say('\nOr with the OpenAI SDK (npm install openai):');
  say(`  import OpenAI from "openai";`);
  say(`  const client = new OpenAI({ baseURL: "${gw.url}/v1", apiKey: "${key}" });`);
  say(`  const stream = await client.chat.completions.create({ model: "demo-model", stream: true, messages: [{ role: "user", content: "Hello!" }] });`);
  say(`  for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");`);
  say(`\nAdmin API: curl -H "Authorization: Bearer ${adminToken}" ${gw.url}/admin/v1/requests`);
  say('Press Ctrl-C to stop.');
  const stop = () => {
    let code = 0;
    // A shutdown that lost records rejects (start.ts): said, and the exit status says so too.
    void gw
      .close()
      .catch((err: unknown) => {
        code = 1;
        process.stderr.write(`tollgate demo: shutdown failed: ${(err as Error).message}\n`);
      })
      .then(() => upstream.close())
      .then(() => process.exit(code));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
