import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteMethods } from '../../src/gateway/route-methods.ts';

test('RouteMethods matches paths as the router does: params within one segment, * across segments, the rest literally', () => {
  const m = new RouteMethods();
  m.add('/v1/models', ['GET', 'HEAD']);
  m.add('/v1/models/*', 'GET');
  m.add('/admin/v1/accounts/:id/keys', 'POST');
  m.add('/admin/v1/accounts/:id/keys', 'GET');
  m.add('/a.b', 'GET');
  assert.deepEqual(m.allowed('/v1/models'), ['GET', 'HEAD']);
  assert.deepEqual(m.allowed('/v1/models/?x=1'), ['GET', 'HEAD']);
  assert.deepEqual(m.allowed('/v1/models/a/b:c'), ['GET']);
  assert.deepEqual(m.allowed('/v1/modelsx'), []);
  assert.deepEqual(m.allowed('/admin/v1/accounts/acct_1/keys'), ['GET', 'POST']);
  assert.deepEqual(m.allowed('/admin/v1/accounts/a/b/keys'), []);
  assert.deepEqual(m.allowed('/admin/v1/accounts//keys'), []);
  assert.deepEqual(m.allowed('/a.b'), ['GET']);
  assert.deepEqual(m.allowed('/aXb'), [], 'a dot in a pattern is literal');
  assert.deepEqual(m.allowed('/'), []);
});
