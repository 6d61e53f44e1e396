import type { Db } from '../store/open.ts';
import { findKeyByHash, type ApiKeyRow } from '../store/api-keys.ts';
import { hashApiKey } from '../auth/api-keys.ts';

// Key lookups cost no database round trip once a key has been seen: hits and misses are
// both cached. Revocation and expiry changes made through the admin API invalidate the
// entry, so they apply to the very next request. Unknown keys are remembered briefly
// (and the negative cache is bounded) so a flood of bad keys cannot reach the database
// on every request.

const NEGATIVE_TTL_MS = 5_000;
const NEGATIVE_MAX = 50_000;
/** Keys whose HMAC is remembered, so a busy key is hashed once, not on every request. */
const HASH_MAX = 10_000;

export class KeyCache {
  readonly #db: Db;
  readonly #secret: string;
  readonly #hashes = new Map<string, string>();
  readonly #hits = new Map<string, ApiKeyRow>();
  readonly #misses = new Map<string, number>();
  readonly #loading = new Map<string, Promise<ApiKeyRow | null>>();

  constructor(db: Db, secret: string) {
    this.#db = db;
    this.#secret = secret;
  }

  /** The key's HMAC under this gateway's secret; cleared wholesale when the map is full. */
  hashOf(key: string): string {
    let h = this.#hashes.get(key);
    if (h === undefined) {
      h = hashApiKey(this.#secret, key);
      if (this.#hashes.size >= HASH_MAX) this.#hashes.clear();
      this.#hashes.set(key, h);
    }
    return h;
  }

  /** undefined = not known yet (call load); null = known not to exist. */
  peek(hash: string, now: number): ApiKeyRow | null | undefined {
    const hit = this.#hits.get(hash);
    if (hit) return hit;
    const missUntil = this.#misses.get(hash);
    if (missUntil !== undefined) {
      if (missUntil > now) return null;
      this.#misses.delete(hash);
    }
    return undefined;
  }

  load(hash: string): Promise<ApiKeyRow | null> {
    let p = this.#loading.get(hash);
    if (!p) {
      p = findKeyByHash(this.#db, hash).then(
        (row) => {
          this.#loading.delete(hash);
          if (row) {
            this.#hits.set(hash, row);
            this.#misses.delete(hash);
            return row;
          }
          if (this.#misses.size >= NEGATIVE_MAX) this.#misses.clear();
          this.#misses.set(hash, Date.now() + NEGATIVE_TTL_MS);
          return null;
        },
        (err) => {
          this.#loading.delete(hash);
          throw err;
        },
      );
      this.#loading.set(hash, p);
    }
    return p;
  }

  /** Puts a key straight in (after creation), so its first use needs no lookup. */
  remember(row: ApiKeyRow): void {
    this.#hits.set(row.hash, row);
    this.#misses.delete(row.hash);
  }

  invalidate(hash: string): void {
    this.#hits.delete(hash);
    this.#misses.delete(hash);
  }
}
