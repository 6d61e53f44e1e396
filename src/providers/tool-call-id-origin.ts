// Which adapter encoded extra state in a tool call id, so that each reads only its own.
//
// The Anthropic adapter appends reasoning blocks (`__tb__`, and `__ts__` in ids it issued
// before) and the Gemini adapter a thought signature (`__ts__`) to the ids it returns
// (anthropic/anthropic-tool-call-id.ts, gemini/gemini-tool-call-id.ts). A conversation
// can cross providers: a model whose routes span them fails over, or its operator changes
// them between turns. Each adapter then meets the other's ids: the Anthropic adapter read
// a Gemini signature as a thinking block's (Anthropic: 400, invalid signature), the Gemini
// adapter an Anthropic one as a thought signature, and an OpenAI-wire upstream got ids of
// hundreds of characters (OpenAI: 400, at most 40). An id encoded by another adapter goes
// out as its plain part, the same on the assistant's tool call and on the tool message,
// so the pairs still match.
//
// Both encodings share `__ts__`: the Anthropic one only ever follows an Anthropic
// tool_use id, which starts with `toolu_` (`toolu_bdrk_`, `toolu_vrtx_` on Bedrock and
// Vertex; `srvtoolu_` for server tools); Gemini's follows `call_<hex>` or Gemini's own id.

export const ANTHROPIC_BLOCKS_MARKER = '__tb__';
export const SIGNATURE_MARKER = '__ts__';

export type ToolCallIdOrigin = 'anthropic' | 'gemini' | null;

function isAnthropicToolUseId(id: string): boolean {
  return id.startsWith('toolu_') || id.startsWith('srvtoolu_');
}

/** The adapter that encoded state in `id`, or null for an id with none. */
export function toolCallIdOrigin(id: string): ToolCallIdOrigin {
  if (id.includes(ANTHROPIC_BLOCKS_MARKER)) return 'anthropic';
  if (!id.includes(SIGNATURE_MARKER)) return null;
  return isAnthropicToolUseId(id) ? 'anthropic' : 'gemini';
}

/** The id without the state an adapter appended (the whole id when it has none). */
export function plainToolCallId(id: string): string {
  let end = id.length;
  const blocks = id.indexOf(ANTHROPIC_BLOCKS_MARKER);
  if (blocks !== -1) end = blocks;
  const signature = id.indexOf(SIGNATURE_MARKER);
  if (signature !== -1 && signature < end) end = signature;
  return id.slice(0, end);
}
