import { createHash } from 'node:crypto';
import { ANTHROPIC_BLOCKS_MARKER, plainToolCallId, SIGNATURE_MARKER, toolCallIdOrigin } from '../tool-call-id-origin.ts';

// Tool call ids the Anthropic or Gemini adapter encoded (tool-call-id-origin.ts), replayed
// to an OpenAI-wire upstream after a failover or a change of routes. OpenAI refuses ids
// over 40 characters ("string too long. Expected a string with maximum length 40"), and
// these run to hundreds (a thinking block's signature rides in them). Such an id goes as
// its plain part (`toolu_...`, `call_...`), or a hash of it where that is still too long,
// the same on the assistant's tool call and on the tool message, so the pairs still match.
// Every other id reaches the upstream byte for byte, as the rest of the body does; a body
// without a marker is not looked at beyond one substring search of its text.

/** OpenAI's longest tool call id. */
const MAX_ID_LENGTH = 40;

/** True when `text` (a request body) may hold an id an adapter encoded: the one check every body pays. */
export function mayHoldEncodedToolCallIds(text: string): boolean {
  return text.includes(SIGNATURE_MARKER) || text.includes(ANTHROPIC_BLOCKS_MARKER);
}

/** The id an OpenAI-wire upstream gets for `id`: itself, unless Tollgate encoded it and it is too long. */
export function openaiToolCallId(id: string): string {
  if (id.length <= MAX_ID_LENGTH || toolCallIdOrigin(id) === null) return id;
  const plain = plainToolCallId(id);
  if (plain && plain.length <= MAX_ID_LENGTH) return plain;
  return `call_${createHash('sha256').update(plain || id).digest('base64url').slice(0, 32)}`;
}

/** Each id in `messages` that must change, with what it becomes and how many times it stands as an id. */
function replacements(messages: unknown): Map<string, { to: string; uses: number }> {
  const out = new Map<string, { to: string; uses: number }>();
  if (!Array.isArray(messages)) return out;
  const visit = (id: unknown) => {
    if (typeof id !== 'string') return;
    const seen = out.get(id);
    if (seen) return void seen.uses++;
    const to = openaiToolCallId(id);
    if (to !== id) out.set(id, { to, uses: 1 });
  };
  for (const m of messages) {
    if (!m || typeof m !== 'object') continue;
    if (m.role === 'tool') visit(m.tool_call_id);
    else if (m.role === 'assistant' && Array.isArray(m.tool_calls)) for (const c of m.tool_calls) visit(c?.id);
  }
  return out;
}

/**
 * `text` (the body as it goes upstream) with each encoded id in `messages` (its parse)
 * replaced where it stands as a JSON string; null unless the id is written so exactly
 * where it is an id and nowhere else: the caller then serialises `withOpenAIToolCallIds()`.
 * Replaced wherever its text stood, an id also written otherwise (`\/` for `/`) kept its long form
 * there and broke its pair, and a message whose whole content was the id was rewritten.
 */
export function replaceEncodedToolCallIds(text: string, messages: unknown): string | null {
  const map = replacements(messages);
  for (const [from, { to, uses }] of map) {
    const parts = text.split(JSON.stringify(from));
    if (parts.length - 1 !== uses) return null;
    text = parts.join(JSON.stringify(to));
  }
  return text;
}

/** `messages` with each encoded id replaced (a copy; unchanged messages are shared). */
export function withOpenAIToolCallIds(messages: unknown): unknown {
  const map = replacements(messages);
  if (map.size === 0 || !Array.isArray(messages)) return messages;
  return messages.map((m) => {
    if (!m || typeof m !== 'object') return m;
    if (m.role === 'tool' && map.has(m.tool_call_id)) return { ...m, tool_call_id: map.get(m.tool_call_id)!.to };
    if (m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.some((c: any) => map.has(c?.id))) {
      return { ...m, tool_calls: m.tool_calls.map((c: any) => (map.has(c?.id) ? { ...c, id: map.get(c.id)!.to } : c)) };
    }
    return m;
  });
}
