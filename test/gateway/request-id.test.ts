import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newRequestId } from '../../src/gateway/request-id.ts';

test('request ids are unique and sort by time', async () => {
  const ids = new Set<string>();
  let prev = '';
  for (let i = 0; i < 5000; i++) {
    const id = newRequestId();
    assert.match(id, /^req_[0-9a-z]{9}[0-9a-f]{16}$/);
    ids.add(id);
    if (i % 1000 === 0) {
      await new Promise((r) => setTimeout(r, 2));
      const later = newRequestId();
      assert.ok(later.slice(0, 13) > prev.slice(0, 13) || prev === '', `${later} sorts after ${prev}`);
      prev = later;
    }
  }
  assert.equal(ids.size, 5000);
});
