import { test } from 'node:test';
import assert from 'node:assert/strict';
import { originForm } from '../../src/gateway/request-target.ts';

test('an absolute-form target is read as its path and query; origin-form is left as it is', () => {
  assert.equal(originForm('/v1/chat/completions?x=1'), '/v1/chat/completions?x=1');
  assert.equal(originForm('http://h:8080/v1/chat/completions?x=http://a/b'), '/v1/chat/completions?x=http://a/b');
  assert.equal(originForm('HTTPS://H/admin/v1/accounts'), '/admin/v1/accounts');
  // A path is only what comes before the query: a slash in the query is not one.
  assert.equal(originForm('http://a?x=/v1/chat/completions'), '/?x=/v1/chat/completions');
  assert.equal(originForm('http://a#/v1/chat/completions'), '/#/v1/chat/completions');
  assert.equal(originForm('http://a'), '/');
  assert.equal(originForm('*'), '*');
});
