import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexOfQuoted, replaceQuoted } from '../../src/protocol/json-text.ts';

// The fast searches must find exactly what the plain ones find. Random texts over a tiny
// alphabet (quotes and the letters of the words) make every overlap and near-miss common.

function randomText(alphabet: string, length: number, seed: { v: number }): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    seed.v = (seed.v * 1103515245 + 12345) & 0x7fffffff;
    s += alphabet[seed.v % alphabet.length];
  }
  return s;
}

test('indexOfQuoted finds what indexOf(\'"word"\') finds, from any start', () => {
  const seed = { v: 7 };
  for (const word of ['usage', 'error', 'aa', 'a']) {
    for (let n = 0; n < 300; n++) {
      const text = randomText(`"${word}x`, 1 + (n % 40), seed);
      for (let from = 0; from <= text.length; from++) {
        assert.equal(indexOfQuoted(text, word, from), text.indexOf(`"${word}"`, from), `${JSON.stringify(text)} from ${from}`);
      }
    }
  }
});

test('replaceQuoted gives what replaceAll gives', () => {
  const seed = { v: 11 };
  const cases: Array<[string, string]> = [
    ['"model":"up"', '"model":"pub"'],
    ['"model":"model"', '"model":"m"'],
    ['"a"a"', '"b"'],
    ['"aa', '"'],
  ];
  for (const [from, to] of cases) {
    const alphabet = [...new Set(`${from}x`)].join('');
    for (let n = 0; n < 500; n++) {
      const text = randomText(alphabet, 1 + (n % 60), seed);
      assert.equal(replaceQuoted(text, from, to), text.replaceAll(from, to), `${JSON.stringify(text)}: ${from} -> ${to}`);
    }
  }
  const stream = 'data: {"id":"c","model":"up-2025","upstream_model":"up-2025"}\n\n'.repeat(3);
  assert.equal(replaceQuoted(stream, '"model":"up-2025"', '"model":"pub"'), stream.replaceAll('"model":"up-2025"', '"model":"pub"'));
  assert.ok(replaceQuoted(stream, '"model":"up-2025"', '"model":"pub"').includes('"upstream_model":"up-2025"'), 'only the model key is rewritten');
});
