// Anthropic thinking blocks travel inside the OpenAI tool_call ids.
//
// With extended thinking, a follow-up request in a tool-use loop must send back the
// assistant turn's thinking and redacted_thinking blocks exactly as they came (each
// thinking block's text under its own signature, in order, the redacted ones too), or
// Anthropic answers 400. OpenAI clients echo `tool_calls[].id` verbatim (the official
// SDKs and every agent framework do, because `tool` messages must quote it), while unknown
// extra fields are often dropped. So each tool call's id carries the reasoning blocks that
// came just before its tool_use block: `<tool_use id>__tb__<block>~<block>...`, a thinking
// block as `<length of its text>.<signature>`, a redacted one as `r.<data>`. The thinking
// text itself comes back as the assistant message's `reasoning_content` (all blocks'
// text joined, which DeepSeek-style clients echo), cut by those lengths. The same ids
// appear in the client's `tool` messages; both sides strip the suffix before sending.
// Signatures and redacted data are base64, so they never contain `~`, `.` or `_`.
// Ids issued before (`<tool_use id>__ts__<signature>`: one thinking block holding the
// whole reasoning_content) are still read.

import { ANTHROPIC_BLOCKS_MARKER, plainToolCallId, SIGNATURE_MARKER, toolCallIdOrigin } from '../tool-call-id-origin.ts';

const BLOCKS = ANTHROPIC_BLOCKS_MARKER;
const LEGACY = SIGNATURE_MARKER;

export type ReasoningBlock =
  | { type: 'thinking'; /** UTF-16 length of its text; undefined: all of it (legacy ids) */ length: number | undefined; signature: string }
  | { type: 'redacted_thinking'; data: string };

export function encodeToolCallId(toolUseId: string, blocks: readonly ReasoningBlock[] = []): string {
  const parts = blocks.map((b) => (b.type === 'thinking' ? `${b.length ?? 0}.${b.signature}` : `r.${b.data}`));
  return parts.length ? `${toolUseId}${BLOCKS}${parts.join('~')}` : toolUseId;
}

function decodeBlocks(suffix: string): ReasoningBlock[] {
  const out: ReasoningBlock[] = [];
  for (const part of suffix.split('~')) {
    const dot = part.indexOf('.');
    if (dot === -1) continue;
    const head = part.slice(0, dot);
    const rest = part.slice(dot + 1);
    if (!rest) continue;
    if (head === 'r') out.push({ type: 'redacted_thinking', data: rest });
    else if (/^\d+$/.test(head)) out.push({ type: 'thinking', length: Number(head), signature: rest });
  }
  return out;
}

export function decodeToolCallId(id: string): { toolUseId: string; blocks: ReasoningBlock[] } {
  let raw = id;
  let blocks: ReasoningBlock[] = [];
  const at = id.lastIndexOf(BLOCKS);
  const legacyAt = at === -1 ? id.lastIndexOf(LEGACY) : -1;
  // A Gemini thought signature is no thinking block's (tool-call-id-origin.ts).
  if (legacyAt !== -1 && toolCallIdOrigin(id) === 'gemini') {
    raw = plainToolCallId(id);
  } else if (at !== -1) {
    raw = id.slice(0, at);
    blocks = decodeBlocks(id.slice(at + BLOCKS.length));
  } else if (legacyAt !== -1) {
    raw = id.slice(0, legacyAt);
    const signature = id.slice(legacyAt + LEGACY.length);
    if (signature) blocks = [{ type: 'thinking', length: undefined, signature }];
  }
  // Anthropic requires tool_use ids to match ^[a-zA-Z0-9_-]+$; ids minted by other
  // providers (history from another model) are made to fit the same way on both the
  // tool_use and the tool_result side, so they still pair up.
  return { toolUseId: raw.replace(/[^a-zA-Z0-9_-]/g, '_') || 'toolu_missing', blocks };
}
