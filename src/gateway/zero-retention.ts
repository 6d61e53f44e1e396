import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../protocol/errors.ts';
import type { ModelEntry } from './catalog.ts';

// A request may demand that no upstream keeps its prompt or answer: seed 001 (idclinks)
// takes `idc-no-retention: true` and "forces a zero-retention route". Tollgate keeps no
// text itself (the request log is metadata only), so what it can promise is the route:
// only providers the operator marked `zero_retention: true` serve such a request, and one
// for a model without such a provider is refused before anything is reserved or sent.

const HEADER = 'x-tollgate-zero-retention';
const IDCLINKS_HEADER = 'idc-no-retention';

/** Whether the request asks for zero retention; a value other than true/false is a 400. */
export function wantsZeroRetention(headers: IncomingHttpHeaders): boolean {
  const own = headers[HEADER];
  const value = own ?? headers[IDCLINKS_HEADER];
  if (value === undefined) return false;
  const name = own !== undefined ? HEADER : IDCLINKS_HEADER;
  const v = (Array.isArray(value) ? value.join(',') : value).trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0' || v === '') return false;
  throw new GatewayError('invalid_request', `The ${name} header must be true or false.`);
}

/** The model's catalog entries with only zero-retention routes, made once per model. */
const restricted = new WeakMap<ModelEntry, ModelEntry | null>();

/** `model` restricted to its zero-retention routes; a 400 when it has none. */
export function zeroRetentionModel(model: ModelEntry, publicId: string): ModelEntry {
  let entry = restricted.get(model);
  if (entry === undefined) {
    const routes = model.routes.filter((r) => r.upstream.config.zero_retention);
    entry = routes.length === 0 ? null : routes.length === model.routes.length ? model : { ...model, routes };
    restricted.set(model, entry);
  }
  if (!entry) throw new GatewayError('zero_retention_unavailable', `The model '${publicId}' has no zero-retention route. Send the request without ${HEADER} (or ${IDCLINKS_HEADER}), or choose another model.`, { param: 'model' });
  return entry;
}
