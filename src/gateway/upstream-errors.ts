import { GatewayError, type ErrorType } from '../protocol/errors.ts';
import type { UpstreamErrorInfo } from '../providers/types.ts';
import type { Upstream } from './upstreams.ts';
import { retryAfterFromUpstream } from './upstream-retry-after.ts';
import { scrubErrorInfo } from './upstream-scrub.ts';

// How upstream failures reach the client. The upstream's key, URL and host never do:
// what the upstream said passes through scrubErrorInfo (upstream-scrub.ts) first.

/**
 * A refusal of the operator's own account or route at an upstream, not of the request:
 * another route (another account, another provider) may well answer it.
 */
export type OperatorFault = 'credentials' | 'funds' | 'route';

/** The line logged for the operator when an upstream refuses their account or route. */
export const OPERATOR_FAULT_LOG: Record<OperatorFault, string> = {
  credentials: 'upstream rejected the configured credentials',
  funds: 'upstream refused the configured account: its balance or quota there is used up',
  route: 'upstream does not serve the configured model (HTTP 404: check the route\'s model and the provider\'s base_url)',
};

function operatorFaultOf(status: number, info: UpstreamErrorInfo): OperatorFault | null {
  if (status === 401 || status === 403 || info.credentialsRejected) return 'credentials';
  if (status === 402 || info.fundsExhausted) return 'funds';
  // The gateway chose both the path and the upstream model name: a 404 is the route's
  // (a retired model, a wrong base_url), never the client's, whose model id was found.
  if (status === 404) return 'route';
  return null;
}

export interface UpstreamRefusal {
  error: GatewayError;
  fault: OperatorFault | null;
}

/** An HTTP error status from the upstream, in OpenAI shape, and whether it is an operator fault. */
export function fromUpstreamStatus(upstream: Upstream, status: number, raw: UpstreamErrorInfo, retryAfterHeader: string | undefined): UpstreamRefusal {
  const info = scrubErrorInfo(raw, upstream);
  const fault = operatorFaultOf(status, info);
  return { error: errorFor(status, info, fault, retryAfterHeader), fault };
}

/**
 * On a 502 only the operator can clear: the SDKs retry a 502 on their own (twice, for
 * OpenAI's), each retry one more call with a rejected key or an empty account.
 */
const OPERATOR_MUST_FIX = { headers: { 'x-should-retry': 'false' } };

function errorFor(status: number, info: UpstreamErrorInfo, fault: OperatorFault | null, retryAfterHeader: string | undefined): GatewayError {
  const message = info.message;
  if (fault === 'credentials') {
    // The provider rejected the operator's credentials: not the customer's key problem.
    return new GatewayError('upstream_error', `The upstream provider rejected the gateway's credentials (HTTP ${status}). The operator has been notified in the logs.`, OPERATOR_MUST_FIX);
  }
  if (fault === 'funds') {
    // The operator's own balance or quota with the provider is used up. Passed on, it
    // read as the customer's own wallet being empty, with a 402 and the provider's words.
    return new GatewayError('upstream_error', `The upstream provider refused the gateway's account (HTTP ${status}: its balance or quota there is used up). The operator has been notified in the logs.`, OPERATOR_MUST_FIX);
  }
  if (fault === 'route') {
    // The upstream's "model `gpt-4-0314` does not exist" named a model the client never
    // asked for, and read as its own model being unknown.
    return new GatewayError('upstream_error', `The upstream provider does not serve the model this route is configured with (HTTP ${status}). The operator has been notified in the logs.`, OPERATOR_MUST_FIX);
  }
  if (status < 400) {
    // A base_url that moved (http for https) or a maintenance page. Where it points is
    // the upstream's business and not passed on.
    return new GatewayError('upstream_error', `The upstream provider answered with a redirect (HTTP ${status}), which the gateway does not follow.`);
  }
  if (status === 408) {
    return new GatewayError('upstream_error', `The upstream provider did not receive the gateway's request in time (HTTP ${status}).`);
  }
  if (status === 429) {
    const wait = retryAfterFromUpstream(retryAfterHeader, info.retryAfterSeconds);
    return new GatewayError('rate_limit_exceeded', `The upstream provider is rate limiting: ${message}`, { headers: { 'retry-after': wait }, codeOverride: 'upstream_rate_limited' });
  }
  if (status >= 400 && status < 500) {
    // The upstream's own type and code, where they are identifiers (upstream-scrub.ts).
    const type = (info.type ?? 'invalid_request_error') as ErrorType;
    return new GatewayError('invalid_request', message, { status, type, param: info.param ?? null, codeOverride: info.code ?? 'upstream_invalid_request' });
  }
  // A 503's Retry-After (a provider's maintenance, say) is as good for the client as a 429's.
  return new GatewayError('upstream_error', `The upstream provider failed (HTTP ${status}): ${message}`, { headers: { 'retry-after': retryAfterFromUpstream(retryAfterHeader, info.retryAfterSeconds) } });
}

/** An error the upstream reported with a 200: in its stream, or in its answer beside (or instead of) choices. */
export function fromErrorIn200(upstream: Upstream, raw: UpstreamErrorInfo): GatewayError {
  return new GatewayError('upstream_error', scrubErrorInfo(raw, upstream).message);
}

/** A transport failure: refused, reset, timed out, unparseable. */
export function fromTransportError(err: unknown): GatewayError {
  const code = (err as { code?: string })?.code ?? '';
  if (code === 'UPSTREAM_HEADERS_TIMEOUT' || code === 'UPSTREAM_BODY_TIMEOUT' || code === 'UPSTREAM_CONNECT_TIMEOUT' || code === 'ETIMEDOUT' || (err as Error)?.name === 'TimeoutError') {
    return new GatewayError('upstream_timeout', 'The upstream provider did not answer in time.');
  }
  if (code === 'ECONNREFUSED') return new GatewayError('upstream_error', 'Could not connect to the upstream provider (connection refused).');
  if (code === 'ECONNRESET' || code === 'EPIPE') return new GatewayError('upstream_error', 'The connection to the upstream provider was reset.');
  if (code === 'UPSTREAM_CLOSED') return new GatewayError('upstream_error', 'The upstream provider closed the connection before its answer was complete.');
  if (code === 'UPSTREAM_BAD_RESPONSE') return invalidUpstreamResponse('its HTTP framing could not be parsed');
  // Its own words: the coding it named, or that its compressed bytes were corrupt.
  if (code === 'UPSTREAM_BAD_ENCODING') return new GatewayError('upstream_error', `The upstream provider sent an invalid response: ${(err as Error).message}.`);
  if (code === 'UPSTREAM_TOO_LARGE') return invalidUpstreamResponse('the answer is too large to read');
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new GatewayError('upstream_error', 'Could not resolve the upstream provider.');
  return new GatewayError('upstream_error', 'The upstream provider could not be reached.');
}

export function invalidUpstreamResponse(detail: string): GatewayError {
  return new GatewayError('upstream_error', `The upstream provider sent an invalid response: ${detail}.`);
}
