import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '../../src/config/load.ts';
import { startGateway } from '../../src/gateway/start.ts';

// A provider marked simulated is for `tollgate demo` only; `serve` refuses it as the config
// error it is (exit 78, as every other config error), not as a crash (exit 1).

test('serve refuses a simulated provider with a ConfigError naming it, before opening the store', async () => {
  const config = validateConfig({
    storage: 'sqlite:/nonexistent-dir-that-must-not-be-created/x.db',
    providers: [{ id: 'sim', kind: 'openai', base_url: 'http://127.0.0.1:9/v1', simulated: true }],
  });
  await assert.rejects(startGateway(config), (err: Error) => {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${err.constructor.name}: ${err.message}`);
    assert.match(err.message, /providers: sim marked simulated/);
    return true;
  });
});
