import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { CLOSED_PORT, post } from '../helpers/http.ts';
import { runTollgateToEnd } from '../helpers/tollgate-process.ts';
import { commandNames } from '../../src/cli/command-line.ts';

// The operator CLI against a running gateway: accounts, keys, requests. Each command
// is a real `tollgate` process talking to the admin API.

describe('tollgate admin commands', { concurrency: true }, () => {
  let up: FakeOpenAI;
  let tg: TestGateway;

  before(async () => {
    up = await startFakeOpenAI({ text: 'cli says hi' });
    tg = await startTestGateway({ upstream: up.baseUrl });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  /** Runs a command with the gateway's URL and token in the environment; parses stdout as JSON. */
  const cli = async (...args: string[]) => {
    const r = await runTollgateToEnd(args, { env: { TOLLGATE_URL: tg.url, TOLLGATE_ADMIN_TOKEN: tg.adminToken } });
    assert.equal(r.code, 0, `tollgate ${args.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  test('keys list pages with --limit and --after, as accounts list does', async () => {
    const account = await cli('accounts', 'create', '--name', 'Many keys');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await cli('keys', 'create', account.id, '--name', `k${i}`)).id);
    const first = await cli('keys', 'list', account.id, '--limit', '2');
    assert.deepEqual(first.data.map((k: any) => k.id), ids.slice(0, 2));
    assert.equal(first.has_more, true);
    const next = await cli('keys', 'list', account.id, '--limit', '2', '--after', ids[1]!);
    assert.deepEqual(next.data.map((k: any) => k.id), ids.slice(2));
    assert.equal(next.has_more, false);
  });

  test('accounts create/list, keys create/list/revoke, requests', async () => {
    const account = await cli('accounts', 'create', '--name', 'CLI Customer');
    assert.match(account.id, /^acct_/);
    assert.equal(account.name, 'CLI Customer');
    assert.equal((await tg.admin('GET', `/accounts/${account.id}`)).body.name, 'CLI Customer');
    await tg.admin('POST', `/accounts/${account.id}/credits`, { amount_usd: '1' });

    const key = await cli('keys', 'create', account.id, '--name', 'laptop');
    assert.match(key.key, /^sk-tg-/);
    assert.equal(key.account_id, account.id);
    assert.equal(key.name, 'laptop');

    // The key works, and the request shows up in `tollgate requests`.
    const r = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key: key.key });
    assert.equal(r.status, 200, r.text);
    const rid = r.headers.get('x-request-id');

    // accounts list, keys list, requests (with --url / --admin-token flags this time)
    const flags = ['--url', tg.url, '--admin-token', tg.adminToken];
    const [accounts, keys, requests] = await Promise.all([
      runTollgateToEnd(['accounts', 'list', ...flags]),
      runTollgateToEnd(['keys', 'list', account.id, ...flags]),
      runTollgateToEnd(['requests', '--account', account.id, ...flags]),
    ]);
    for (const x of [accounts, keys, requests]) assert.equal(x.code, 0, x.stderr);
    assert.ok(JSON.parse(accounts.stdout).data.some((a: any) => a.id === account.id));
    const listed = JSON.parse(keys.stdout).data;
    assert.deepEqual(listed.map((k: any) => k.id), [key.id]);
    assert.ok(!keys.stdout.includes(key.key), 'keys list never shows the key');
    const reqs = JSON.parse(requests.stdout).data;
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].id, rid);
    assert.equal(reqs[0].model, 'deepseek-v4-flash');
    assert.equal(reqs[0].status, 200);
    // One request by the id the customer quotes, with its charge.
    const one = await cli('requests', 'get', rid!);
    assert.equal(one.id, rid);
    assert.equal(one.ledger[0].kind, 'charge');
    assert.equal(one.ledger[0].amount_usd, `-${one.cost_usd}`);

    const revoked = await cli('keys', 'revoke', key.id);
    assert.equal(revoked.id, key.id);
    assert.ok(revoked.revoked_at);
    const again = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key: key.key });
    assert.equal(again.status, 401);
  });

  test('accounts update --suspended takes only true or false; list and requests page with --limit, --after and --before', async () => {
    const account = await cli('accounts', 'create', '--name', 'Pager');
    assert.equal((await cli('accounts', 'update', account.id, '--suspended', 'true')).suspended, true);
    for (const typo of ['yes', '1', 'True', '']) {
      const r = await runTollgateToEnd(['accounts', 'update', account.id, '--suspended', typo], { env: { TOLLGATE_URL: tg.url, TOLLGATE_ADMIN_TOKEN: tg.adminToken } });
      assert.equal(r.code, 2, `--suspended ${typo}`);
      assert.match(r.stderr, /--suspended takes true or false/);
    }
    assert.equal((await tg.admin('GET', `/accounts/${account.id}`)).body.suspended, true, 'a typo changed nothing');
    assert.equal((await cli('accounts', 'update', account.id, '--suspended', 'false')).suspended, false);

    const firstPage = await cli('accounts', 'list', '--limit', '1');
    assert.equal(firstPage.data.length, 1);
    const rest = await cli('accounts', 'list', '--limit', '1000', '--after', firstPage.data[0].id);
    const all = await cli('accounts', 'list', '--limit', '1000');
    assert.deepEqual([firstPage.data[0].id, ...rest.data.map((a: any) => a.id)], all.data.map((a: any) => a.id));
    assert.equal(firstPage.has_more, all.data.length > 1);

    const { accountId, key } = await tg.customer({ creditUsd: '1' });
    for (let i = 0; i < 2; i++) {
      const r = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key });
      assert.equal(r.status, 200, r.text);
    }
    const newest = await cli('requests', '--account', accountId, '--limit', '1');
    assert.equal(newest.has_more, true);
    const older = await cli('requests', '--account', accountId, '--limit', '1', '--before', newest.data[0].id);
    assert.equal(older.data.length, 1);
    assert.ok(older.data[0].id < newest.data[0].id);
    assert.equal(older.has_more, false);
  });

  test('a flag that does not apply, a word too many or an update with nothing to change is an error, and nothing is done', async () => {
    // These ran, ignoring what they did not use: the account was created unsuspended,
    // `requests gte ID` listed every request, and an empty update bumped updated_at.
    const env = { TOLLGATE_URL: tg.url, TOLLGATE_ADMIN_TOKEN: tg.adminToken };
    const account = await cli('accounts', 'create', '--name', 'Strict');
    const before = (await tg.admin('GET', `/accounts/${account.id}`)).body;
    const cases: Array<[string[], RegExp]> = [
      [['accounts', 'create', '--name', 'Ghost', '--suspended', 'true'], /^tollgate: --suspended does not apply to tollgate accounts create; see tollgate --help\n$/],
      [['requests', 'gte', 'req_x'], /^tollgate: unexpected argument "gte" to tollgate requests; see tollgate --help\n$/],
      [['accounts', 'get', account.id, 'extra'], /^tollgate: unexpected argument "extra" to tollgate accounts get/],
      [['keys', 'list', account.id, '--expires-at', '2030-01-01T00:00:00Z'], /^tollgate: --expires-at does not apply to tollgate keys list/],
      [['accounts', 'update', account.id], /^tollgate: nothing to change: pass --name, --plan or --suspended\n$/],
      [['accounts', 'update', account.id, '--name', ''], /^tollgate: HTTP 400: name: /],
    ];
    const runs = await Promise.all(cases.map(([args]) => runTollgateToEnd(args, { env })));
    // Exit 2 for a wrong command line, 1 for the gateway's refusal: a script can tell them apart.
    runs.forEach((r, i) => {
      assert.equal(r.code, i === cases.length - 1 ? 1 : 2, cases[i]![0].join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, cases[i]![1]);
    });
    assert.deepEqual((await tg.admin('GET', `/accounts/${account.id}`)).body, before, 'the account is unchanged');
    const all = (await tg.admin('GET', '/accounts?limit=1000')).body.data;
    assert.ok(!all.some((a: any) => a.name === 'Ghost'), 'no account was created');
  });

  test('credit, adjust, ledger, usage and limits of an account; plans, key limits and prices, from the command line', async () => {
    const env = { TOLLGATE_URL: tg.url, TOLLGATE_ADMIN_TOKEN: tg.adminToken };
    const account = await cli('accounts', 'create', '--name', 'Billing by CLI');
    const credited = await cli('accounts', 'credit', account.id, '--amount', '5.25', '--note', 'wire 42');
    assert.equal(credited.balance_usd, '5.25');
    const refunded = await cli('accounts', 'adjust', account.id, '--amount', '0.75', '--reason', 'outage', '--kind', 'refund');
    assert.equal(refunded.balance_usd, '6.00');
    // A negative amount is written --amount=-X (a value starting with a dash).
    assert.equal((await cli('accounts', 'adjust', account.id, '--amount=-0.5', '--reason', 'correction')).balance_usd, '5.50');
    assert.equal((await cli('accounts', 'adjust', account.id, '--amount', '0.5', '--reason', 'undo')).balance_usd, '6.00');

    // A plan made here, assigned to the account, and a key limited below it.
    const plan = await cli('plans', 'create', 'cli-plan', '--name', 'CLI plan', '--models', 'deepseek-*', '--rpm', '100', '--max-output-tokens', '2048');
    assert.equal(plan.id, 'cli-plan');
    assert.deepEqual(plan.models, ['deepseek-*']);
    assert.equal(plan.rpm, 100);
    assert.equal(plan.max_output_tokens, 2048);
    assert.equal((await cli('plans', 'update', 'cli-plan', '--rpm', 'none', '--daily-tokens', '1000000')).rpm, null);
    assert.equal((await cli('plans', 'get', 'cli-plan')).daily_tokens, 1000000);
    assert.ok((await cli('plans', 'list')).data.some((p: any) => p.id === 'cli-plan'));
    assert.equal((await cli('accounts', 'update', account.id, '--plan', 'cli-plan')).plan, 'cli-plan');
    const key = await cli('keys', 'create', account.id, '--name', 'limited', '--rpm', '1');
    assert.equal(key.overrides.rpm, 1);
    const body = { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal((await post(`${tg.url}/v1/chat/completions`, body, { key: key.key })).status, 200);
    assert.equal((await post(`${tg.url}/v1/chat/completions`, body, { key: key.key })).status, 429, 'the key allows one request a minute');
    const updated = await cli('keys', 'update', key.id, '--rpm', 'none', '--models', 'deepseek-v4-flash');
    assert.equal(updated.overrides.rpm, undefined);
    assert.deepEqual(updated.overrides.models, ['deepseek-v4-flash']);
    assert.equal((await post(`${tg.url}/v1/chat/completions`, body, { key: key.key })).status, 200, 'the key\'s rpm is the plan\'s again');

    const limits = await cli('accounts', 'limits', account.id);
    assert.equal(limits.plan.id, 'cli-plan');
    const ledger = await cli('accounts', 'ledger', account.id);
    assert.deepEqual(ledger.data.map((e: any) => e.kind), ['charge', 'charge', 'adjustment', 'adjustment', 'refund', 'credit']);
    assert.equal(ledger.data[5].note, 'wire 42');
    assert.equal((await cli('accounts', 'ledger', account.id, '--limit', '1', '--before', String(ledger.data[4].id))).data[0].kind, 'credit');
    const usage = await cli('accounts', 'usage', account.id, '--group-by', 'model');
    assert.equal(usage.group_by, 'model');
    assert.deepEqual(usage.data.map((u: any) => [u.model, u.requests]), [['deepseek-v4-flash', 3]]);
    // The gateway's totals, every account's: this one among them, with the same figures.
    const everyone = await cli('usage', '--group-by', 'account');
    assert.equal(everyone.group_by, 'account');
    const mine = everyone.data.find((u: any) => u.account === account.id);
    assert.equal(mine.requests, 3);
    assert.equal(mine.cost_usd, usage.data[0].cost_usd);
    assert.ok(everyone.data.length > 1, 'the other tests\' accounts are there too');
    assert.equal((await cli('usage', '--group-by', 'day', '--from', new Date(Date.now() + 86_400_000).toISOString())).data.length, 0, 'nothing from tomorrow on');

    const prices = await cli('prices', 'set', 'deepseek-v4-pro', '--input', '0.5', '--output', '2', '--cached-input', '0.05');
    assert.equal(prices.model, 'deepseek-v4-pro');
    assert.deepEqual([prices.input, prices.cached_input, prices.output], ['0.5', '0.05', '2']);
    assert.deepEqual(await cli('prices', 'get', 'deepseek-v4-pro'), prices);

    // Values the API would refuse are refused before it is called (exit 2), and change nothing.
    const bad: Array<[string[], RegExp]> = [
      [['plans', 'update', 'cli-plan', '--rpm', '1.5'], /--rpm takes a whole number above 0, or none, not "1.5"/],
      [['plans', 'update', 'cli-plan', '--concurrency', '0'], /--concurrency takes a whole number above 0/],
      [['keys', 'update', key.id, '--models', 'a,,b'], /--models takes model ids separated by commas/],
      [['keys', 'update', key.id], /nothing to change: pass --name, --expires-at or a limit/],
      [['plans', 'update', 'cli-plan'], /nothing to change: pass --name or a limit/],
      [['accounts', 'adjust', account.id, '--amount', '1', '--reason', 'x', '--kind', 'gift'], /--kind takes adjustment or refund, not "gift"/],
      [['accounts', 'usage', account.id, '--group-by', 'week'], /--group-by takes day or model or key, not "week"/],
      [['accounts', 'usage', account.id, '--group-by', 'account'], /--group-by takes day or model or key, not "account"/],
      [['usage', '--group-by', 'week'], /--group-by takes day or model or key or account, not "week"/],
      [['accounts', 'credit', account.id], /missing --amount/],
      [['prices', 'set', 'deepseek-v4-pro', '--input', '1'], /missing --output/],
      [['prices', 'set', 'deepseek-v4-pro', '--input', '1.1234567', '--output', '1'], /--input takes a USD price per 1M tokens with at most 6 decimals/],
      [['accounts', 'credit', account.id, '--amount=-1'], /--amount of a credit must be above 0, not "-1"/],
      [['accounts', 'credit', account.id, '--amount', 'abc'], /--amount takes an amount in USD/],
      [['accounts', 'list', '--limit', 'abc'], /--limit takes a whole number from 1 to 1000, not "abc"/],
      [['accounts', 'list', '--limit', '5000'], /--limit takes a whole number from 1 to 1000/],
      [['accounts', 'list', '--limit='], /--limit takes a value/],
      [['keys', 'create', account.id, '--expires-at', 'yesterday'], /--expires-at takes an ISO 8601 date and time/],
      [['requests', '--from', 'garbage'], /--from takes an ISO 8601 date and time/],
      [['accounts', 'list', '--url', 'notaurl'], /the gateway URL must be an http:\/\/ or https:\/\/ URL/],
    ];
    const runs = await Promise.all(bad.map(([args]) => runTollgateToEnd(args, { env })));
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, bad[i]![0].join(' '));
      assert.match(r.stderr, bad[i]![1]);
    });
    // What only the gateway can refuse is its refusal (exit 1).
    const refused = await Promise.all([
      runTollgateToEnd(['accounts', 'credit', 'acct_nope', '--amount', '1'], { env }),
      runTollgateToEnd(['plans', 'create', 'cli-plan'], { env }),
      runTollgateToEnd(['prices', 'get', 'no-such-model'], { env }),
    ]);
    assert.deepEqual(refused.map((r) => r.code), [1, 1, 1]);
    assert.match(refused[0]!.stderr, /HTTP 404: /);
    assert.match(refused[1]!.stderr, /HTTP 409: Plan 'cli-plan' already exists/);
    assert.match(refused[2]!.stderr, /HTTP 404: No model 'no-such-model'/);
    assert.equal((await tg.admin('GET', `/accounts/${account.id}`)).body.plan, 'cli-plan');
    assert.equal((await cli('plans', 'get', 'cli-plan')).concurrency, null);
    assert.equal((await cli('accounts', 'update', account.id, '--plan', 'none')).plan, null);
  });

  test('--help lists every command the CLI takes', async () => {
    const [long, short, word] = await Promise.all([runTollgateToEnd(['--help']), runTollgateToEnd(['-h']), runTollgateToEnd(['help'])]);
    for (const r of [long, short, word]) assert.equal(r.code, 0, r.stderr);
    assert.equal(short.stdout, long.stdout);
    assert.equal(word.stdout, long.stdout);
    const listed = new Set(long.stdout.split('\n').map((l) => /^ {2}tollgate ([a-z]+(?: [a-z]+)?)/.exec(l)?.[1]).filter(Boolean));
    const missing = commandNames().filter((c) => !listed.has(c));
    assert.deepEqual(missing, [], 'every command has a line in --help');
  });

  test('a gateway behind a reverse proxy at a path: the CLI keeps the path, and the token goes nowhere else', async () => {
    // --url http://proxy/tollgate sent requests (and the admin token) to http://proxy/admin/v1.
    const seen: string[] = [];
    const proxy = createServer((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization ? 'with token' : ''}`);
      if (!req.url!.startsWith('/tollgate/')) return void res.writeHead(404).end('not here');
      const upstream = httpRequest(`${tg.url}${req.url!.slice('/tollgate'.length)}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/tollgate/`;
      const r = await runTollgateToEnd(['accounts', 'create', '--name', 'Proxied', '--url', base], { env: { TOLLGATE_ADMIN_TOKEN: tg.adminToken } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).name, 'Proxied');
      const list = await runTollgateToEnd(['accounts', 'list', '--limit', '1', '--url', base.slice(0, -1)], { env: { TOLLGATE_ADMIN_TOKEN: tg.adminToken } });
      assert.equal(list.code, 0, list.stderr);
      assert.equal(JSON.parse(list.stdout).data.length, 1);
      assert.deepEqual(seen, ['/tollgate/admin/v1/accounts with token', '/tollgate/admin/v1/accounts?limit=1 with token']);
    } finally {
      proxy.close();
    }
  });

  test('errors: a bad admin token, an unknown id, a missing argument, an unreachable gateway', async () => {
    const env = { TOLLGATE_URL: tg.url, TOLLGATE_ADMIN_TOKEN: tg.adminToken };
    const [badToken, unknown, missing, unreachable] = await Promise.all([
      runTollgateToEnd(['accounts', 'list', '--admin-token', 'wrong-token-wrong-token'], { env: { TOLLGATE_URL: tg.url } }),
      runTollgateToEnd(['keys', 'revoke', 'key_nope'], { env }),
      runTollgateToEnd(['accounts', 'create'], { env }),
      runTollgateToEnd(['accounts', 'list', '--url', `http://127.0.0.1:${CLOSED_PORT}`], { env }),
    ]);
    assert.equal(badToken.code, 1);
    assert.match(badToken.stderr, /HTTP 401: Invalid admin token/);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /HTTP 404: No key 'key_nope'/);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing --name/);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, new RegExp(`cannot reach the gateway at http://127\\.0\\.0\\.1:${CLOSED_PORT}: .*ECONNREFUSED`));
    for (const r of [badToken, unknown, missing, unreachable]) {
      assert.equal(r.stdout, '');
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});
