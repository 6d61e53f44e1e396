// Anthropic thinking signatures travel inside the OpenAI tool_call id.
//
// With extended thinking, a follow-up request in a tool-use loop must send back the
// thinking block (text + signature) that preceded the tool_use blocks, unmodified, or
// Anthropic answers 400. OpenAI clients echo `tool_calls[].id` verbatim (the official SDKs
// and every agent framework do, because `tool` messages must quote it), while unknown
// extra fields are often dropped. So the first tool call of a turn gets the id
// `<tool_use id>__ts__<signature>`; the thinking text itself comes back as the assistant
// message's `reasoning_content` (which DeepSeek-style clients echo). The same id, with the
// suffix, appears in the client's `tool` messages; both sides strip it before sending.
// Signatures are base64 ([A-Za-z0-9+/=]), so they never contain the separator.

const SEPARATOR = '__ts__';

export function encodeToolCallId(toolUseId: string, signature?: string | undefined): string {
  return signature ? `${toolUseId}${SEPARATOR}${signature}` : toolUseId;
}

export function decodeToolCallId(id: string): { toolUseId: string; signature: string | undefined } {
  const at = id.lastIndexOf(SEPARATOR);
  const raw = at === -1 ? id : id.slice(0, at);
  const signature = at === -1 ? undefined : id.slice(at + SEPARATOR.length) || undefined;
  // Anthropic requires tool_use ids to match ^[a-zA-Z0-9_-]+$; ids minted by other
  // providers (history from another model) are made to fit the same way on both the
  // tool_use and the tool_result side, so they still pair up.
  return { toolUseId: raw.replace(/[^a-zA-Z0-9_-]/g, '_') || 'toolu_missing', signature };
}
