import { randomBytes } from 'node:crypto';
import { plainToolCallId, SIGNATURE_MARKER, toolCallIdOrigin } from '../tool-call-id-origin.ts';

// Gemini thought signatures travel inside the OpenAI tool_call id.
//
// Gemini 3 (and 2.5 with thinking) returns a `thoughtSignature` on functionCall parts and
// rejects the next request with 400 unless that part comes back with it. OpenAI clients
// reliably echo `tool_calls[].id` (the official SDKs and agent frameworks must, because
// `tool` messages quote it) but often drop unknown fields. So a call with a signature
// gets the id `call_<hex>__ts__<signature>`; the signature is base64, which never
// contains the separator. Google's own OpenAI-compatible endpoint uses
// `extra_content.google.thought_signature` on the tool call instead; that is emitted too
// and accepted on input when the id carries none.
// https://ai.google.dev/gemini-api/docs/thought-signatures
//
// Gemini 3 also gives every functionCall an `id` and asks for it back on the matching
// functionResponse (it tells apart parallel calls of one function). That id, when there
// is one, is the part before the separator instead of a random `call_<hex>`.
// https://ai.google.dev/gemini-api/docs/function-calling

const SEPARATOR = SIGNATURE_MARKER;

/** Documented placeholder for function calls whose signature is unknown (history from another model). */
export const SKIP_SIGNATURE = 'skip_thought_signature_validator';

export function newToolCallId(signature?: string | undefined, geminiId?: unknown): string {
  const id = typeof geminiId === 'string' && geminiId && !geminiId.includes(SEPARATOR) ? geminiId : `call_${randomBytes(12).toString('hex')}`;
  return signature ? `${id}${SEPARATOR}${signature}` : id;
}

/** The tool call id without the signature: what Gemini knows the call by. */
export function geminiCallId(id: string): string {
  // An id the Anthropic adapter encoded (tool-call-id-origin.ts) goes as its tool_use id.
  if (toolCallIdOrigin(id) === 'anthropic') return plainToolCallId(id);
  const at = id.lastIndexOf(SEPARATOR);
  return at === -1 ? id : id.slice(0, at);
}

export function signatureFromToolCall(call: any): string | undefined {
  const id = typeof call?.id === 'string' ? call.id : '';
  // What follows an Anthropic id's marker is Anthropic's signature, which Gemini refuses.
  const at = toolCallIdOrigin(id) === 'anthropic' ? -1 : id.lastIndexOf(SEPARATOR);
  if (at !== -1 && at + SEPARATOR.length < id.length) return id.slice(at + SEPARATOR.length);
  const extra = call?.extra_content?.google?.thought_signature;
  return typeof extra === 'string' && extra ? extra : undefined;
}
