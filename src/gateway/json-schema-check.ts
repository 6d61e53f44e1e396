import type { SchemaCheckThread } from './json-schema-thread.ts';

// Structured-output checking (seed 001): a json_schema answer is validated against the
// schema the client sent. Compiling and validating run on a thread of their own
// (json-schema-thread.ts), within a time limit: a client's schema can cost ajv seconds.

/** What checking an answer found; `unchecked` answers are relayed as the upstream gave them. */
export type SchemaVerdict =
  | { kind: 'valid' }
  | { kind: 'invalid'; violations: string }
  | { kind: 'unchecked'; reason: string };

/** The schema to check against, as JSON text, when the request asks for json_schema output. */
export function requestedSchema(body: Record<string, any>): string | undefined {
  const rf = body.response_format;
  if (!rf || rf.type !== 'json_schema' || !rf.json_schema || typeof rf.json_schema !== 'object') return undefined;
  const schema = rf.json_schema.schema;
  return schema === undefined || schema === null ? undefined : JSON.stringify(schema);
}

/** Checks a non-streaming completion's answer against the schema. */
export function checkAnswer(thread: SchemaCheckThread, schema: string, completion: Record<string, any>): Promise<SchemaVerdict> {
  const choice = completion?.choices?.[0];
  const message = choice?.message;
  if (message?.tool_calls?.length) return Promise.resolve({ kind: 'unchecked', reason: 'tool call' }); // the model chose a tool instead of answering
  // Answers OpenAI itself returns unmatched, each with its own signal for the client (the
  // SDKs' parse() throws LengthFinishReasonError / ContentFilterFinishReasonError, or
  // gives the refusal): a retry would be charged and end the same way, in a 502.
  if (choice?.finish_reason === 'length') return Promise.resolve({ kind: 'unchecked', reason: 'cut at max tokens' });
  if (choice?.finish_reason === 'content_filter') return Promise.resolve({ kind: 'unchecked', reason: 'content filter' });
  if (typeof message?.refusal === 'string' && message.refusal) return Promise.resolve({ kind: 'unchecked', reason: 'refusal' });
  const content = message?.content;
  if (typeof content !== 'string') return Promise.resolve({ kind: 'invalid', violations: 'the answer has no text content' });
  return thread.check(schema, content);
}
