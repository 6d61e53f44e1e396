import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PICO, PICO_PER_USD, perMillionToPerToken, perTokenToPerMillion, picoToUsd, usdToPico } from '../../src/billing/money.ts';

// Money is exact: picodollars in a bigint, parsed from and printed as decimal strings.

describe('usdToPico / picoToUsd', () => {
  test('known values', () => {
    assert.equal(usdToPico('1'), PICO_PER_USD);
    assert.equal(usdToPico('12.5'), 12_500_000_000_000n);
    assert.equal(usdToPico('0.000004'), 4_000_000n);
    assert.equal(usdToPico('0.000000000001'), 1n);
    assert.equal(usdToPico('-0.000004'), -4_000_000n);
    assert.equal(usdToPico(' 3.25 '), 3_250_000_000_000n);
    assert.equal(usdToPico(0.16), 160_000_000_000n);
    assert.equal(usdToPico(100), 100n * PICO_PER_USD);
    assert.equal(usdToPico(1e-7), 100_000n, 'exponent notation is expanded');
    assert.equal(usdToPico('0'), 0n);
    assert.equal(usdToPico('9223372.036854775807'), MAX_PICO);

    assert.equal(picoToUsd(0n), '0.00');
    assert.equal(picoToUsd(PICO_PER_USD), '1.00');
    assert.equal(picoToUsd(1_500_000_000_000n), '1.50');
    assert.equal(picoToUsd(12_760_000n), '0.00001276');
    assert.equal(picoToUsd(1n), '0.000000000001');
    assert.equal(picoToUsd(-4_000_000n), '-0.000004');
    assert.equal(picoToUsd(-PICO_PER_USD / 2n), '-0.50');
    assert.equal(picoToUsd(MAX_PICO), '9223372.036854775807');
  });

  test('round trips are exact', () => {
    for (const s of ['0.00', '1.00', '1.50', '0.000004', '0.000000000001', '-0.000004', '123456.789012345678', '9223372.00', '-42.10']) {
      assert.equal(picoToUsd(usdToPico(s)), s);
    }
    for (const p of [0n, 1n, -1n, 999_999_999_999n, 1_000_000_000_001n, 123_456_789_012_345n, -987_654_321n, MAX_PICO, -MAX_PICO]) {
      assert.equal(usdToPico(picoToUsd(p)), p);
    }
    // Values that are inexact in binary floating point stay exact here.
    assert.equal(usdToPico('0.1') + usdToPico('0.2'), usdToPico('0.3'));
  });

  test('rejects anything but a decimal with at most 12 places', () => {
    for (const bad of ['0.0000000000001', '1.1234567890123', 1.0000000000001, '', ' ', 'abc', '1e3', '1,50', '$1', '1.', '.5', '+1', '--1', '0x10', 'NaN', NaN, Infinity, -Infinity, '12345678901234']) {
      assert.throws(() => usdToPico(bad as string | number), RangeError, `rejects ${JSON.stringify(String(bad))}`);
    }
  });

  test('a JSON or YAML number is taken exactly or refused, never rounded', () => {
    // Exponent form is expanded digit for digit: 1.23456789e-7 has 15 decimals, too many.
    assert.throws(() => usdToPico(1.23456789e-7), /at most 12 decimal places/);
    assert.equal(usdToPico(1.2345678e-5), 12_345_678n);
    assert.equal(usdToPico(-2.5e-7), -250_000n);
    assert.equal(usdToPico(1e-12), 1n);
    assert.throws(() => usdToPico(5e-13), /at most 12 decimal places/);
    // 1234567.123456789012 arrives as the double 1234567.123456789: refused, not credited short.
    assert.throws(() => usdToPico(1234567.123456789012), /send the amount as a decimal string/);
    assert.throws(() => usdToPico(0.1 + 0.2), /send the amount as a decimal string/);
    assert.equal(usdToPico(1234567.12345678), 1_234_567_123_456_780_000n, '15 significant digits are exact');
    assert.equal(usdToPico('1234567.123456789012'), 1_234_567_123_456_789_012n, 'as a string any 12 decimals are exact');
  });

  test('rejects amounts beyond the int64 column', () => {
    assert.throws(() => usdToPico('9223372.036854775808'), /out of range/);
    assert.throws(() => usdToPico('-9999999999999'), /out of range/);
  });
});

describe('per-million price conversion', () => {
  test('USD per 1M tokens to pUSD per token', () => {
    assert.equal(perMillionToPerToken('0.16'), 160_000n);
    assert.equal(perMillionToPerToken('0.004'), 4_000n);
    assert.equal(perMillionToPerToken('0.000001'), 1n);
    assert.equal(perMillionToPerToken('1.25'), 1_250_000n);
    assert.equal(perMillionToPerToken('10'), 10_000_000n);
    assert.equal(perMillionToPerToken(0.3), 300_000n);
    assert.equal(perMillionToPerToken(0), 0n);
    assert.equal(perMillionToPerToken(' 2 '), 2_000_000n);
    // A million tokens at the per-token price cost exactly the per-million price.
    assert.equal(picoToUsd(perMillionToPerToken('0.16') * 1_000_000n), '0.16');
    assert.equal(picoToUsd(perMillionToPerToken('75') * 1_000_000n), '75.00');
  });

  test('round trips for display', () => {
    for (const s of ['0.16', '0.004', '0.000001', '1.25', '10', '0', '123456789.999999']) {
      assert.equal(perTokenToPerMillion(perMillionToPerToken(s)), s);
    }
    assert.equal(perTokenToPerMillion(perMillionToPerToken('0.300')), '0.3');
  });

  test('rejects negative, over-precise and malformed prices', () => {
    for (const bad of ['-1', '0.0000001', 0.1234567, 'abc', '', '1e-6', '1,5', '1234567890', NaN, -0.5]) {
      assert.throws(() => perMillionToPerToken(bad as string | number), RangeError, `rejects ${JSON.stringify(String(bad))}`);
    }
    assert.throws(() => perMillionToPerToken('0.0000001'), /at most 6 decimal places/);
  });
});
