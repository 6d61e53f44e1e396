// One catalog of every error a client or operator can receive. Tests assert on `code`.
// Shapes follow OpenAI's `{"error":{"message","type","param","code"}}`; `request_id` is
// added on the way out (seed 003 puts it in every error body).

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'insufficient_quota'
  | 'rate_limit_error'
  | 'api_error';

interface CatalogEntry {
  status: number;
  type: ErrorType;
}

export const ERRORS = {
  invalid_request: { status: 400, type: 'invalid_request_error' },
  invalid_json: { status: 400, type: 'invalid_request_error' },
  unsupported_parameter: { status: 400, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  zero_retention_unavailable: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  invalid_admin_token: { status: 401, type: 'authentication_error' },
  insufficient_funds: { status: 402, type: 'insufficient_quota' },
  account_suspended: { status: 402, type: 'insufficient_quota' },
  model_not_available: { status: 403, type: 'permission_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  conflict: { status: 409, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  context_length_exceeded: { status: 413, type: 'invalid_request_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  concurrency_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  daily_token_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  internal_error: { status: 500, type: 'api_error' },
  upstream_error: { status: 502, type: 'api_error' },
  response_format_validation_failed: { status: 502, type: 'api_error' },
  upstreams_unavailable: { status: 503, type: 'api_error' },
  shutting_down: { status: 503, type: 'api_error' },
  store_busy: { status: 503, type: 'api_error' },
  store_unavailable: { status: 503, type: 'api_error' },
  upstream_timeout: { status: 504, type: 'api_error' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERRORS;

export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: string;
  readonly param: string | null;
  /** Extra response headers, e.g. Retry-After on 429/503. */
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { param?: string | null; headers?: Record<string, string>; status?: number; type?: ErrorType; codeOverride?: string } = {},
  ) {
    // These are answers to clients, not faults: capturing a stack trace for each one was
    // the costliest step of a refused request (bench profile), and nobody reads it.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    const entry: CatalogEntry = ERRORS[code];
    this.status = opts.status ?? entry.status;
    this.type = opts.type ?? entry.type;
    this.code = opts.codeOverride ?? code;
    this.param = opts.param ?? null;
    this.headers = this.status >= 500 ? withRetryAfter(opts.headers) : opts.headers;
  }

  toBody(requestId: string): string {
    return errorBody(this.message, this.type, this.param, this.code, requestId);
  }
}

/**
 * A 5xx says when to retry, as 429s do (seed 001: "429 and 5xx responses include a
 * Retry-After header"); OpenAI's SDKs retry 5xx on their own and wait what it says. Where
 * the error knows no better wait, a second.
 */
function withRetryAfter(headers: Record<string, string> | undefined): Record<string, string> {
  return headers?.['retry-after'] !== undefined ? headers : { ...headers, 'retry-after': '1' };
}

export function errorBody(message: string, type: string, param: string | null, code: string | null, requestId: string): string {
  return JSON.stringify({ error: { message, type, param, code, request_id: requestId } });
}
