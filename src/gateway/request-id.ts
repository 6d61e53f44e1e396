import { randomBytes } from 'node:crypto';

// Request ids sort by time: `req_` + 9 base-36 digits of milliseconds + 16 random hex
// digits (64 bits). Time order keeps the request log's primary-key inserts at the end of
// the B-tree instead of at random pages, and makes ids readable in logs.
// Randomness is drawn 4 KiB at a time, not per request.

const POOL_BYTES = 4096;
let pool = randomBytes(POOL_BYTES);
let offset = 0;

/** The smallest request id issued at or after `ms`: a range on the primary key is a range in time. */
export function requestIdFloor(ms: number): string {
  return `req_${Math.max(0, Math.floor(ms)).toString(36).padStart(9, '0')}`;
}

export function newRequestId(): string {
  if (offset + 8 > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const rand = pool.toString('hex', offset, offset + 8);
  offset += 8;
  return `req_${Date.now().toString(36).padStart(9, '0')}${rand}`;
}
