// A request field the chosen upstream cannot honour. Adapters throw this from
// buildChatRequest instead of dropping the field silently, so the client learns that
// e.g. `n: 2` or `logprobs` is not available on this model (tensorzero does the same).
// The gateway maps it to a 400 invalid_request_error with `param` set.

export class UnsupportedFieldError extends Error {
  /** The request field at fault, e.g. "n" or "messages[2].content[0].type". */
  readonly param: string;
  readonly code = 'unsupported_parameter';

  constructor(param: string, message: string) {
    super(message);
    this.name = 'UnsupportedFieldError';
    this.param = param;
  }
}

/** What an adapter does with one top-level OpenAI request field. */
export type FieldPolicy =
  /** The adapter translates it. */
  | 'handled'
  /** Harmless to ignore (bookkeeping, hints without effect on the output). */
  | 'ignored'
  /** Accepted only while it has no effect: null/false/0/1/'text'... checked by the predicate. */
  | ((value: unknown) => boolean);

/**
 * Throws UnsupportedFieldError for the first field that is unknown to `policy`, or whose
 * predicate rejects its value. Unknown fields are errors too: never a silent drop.
 */
export function checkRequestFields(body: Record<string, unknown>, policy: Record<string, FieldPolicy>, upstream: string): void {
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined || value === null) continue;
    const rule = Object.hasOwn(policy, field) ? policy[field] : undefined;
    if (rule === 'handled' || rule === 'ignored') continue;
    if (typeof rule === 'function') {
      if (rule(value)) continue;
      throw new UnsupportedFieldError(field, `The ${upstream} upstream does not support \`${field}\` = ${JSON.stringify(value)}.`);
    }
    throw new UnsupportedFieldError(field, `The ${upstream} upstream does not support the request field \`${field}\`.`);
  }
}
