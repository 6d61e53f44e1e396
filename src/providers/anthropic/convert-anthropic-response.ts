import type { ParsedChatResponse } from '../types.ts';
import { writeOpenAIUsage } from '../../protocol/usage.ts';
import { convertAnthropicUsage } from './convert-anthropic-usage.ts';
import { mapAnthropicStopReason } from './map-anthropic-stop-reason.ts';
import { JSON_TOOL_NAME } from './convert-to-anthropic-tools.ts';
import { encodeToolCallId, type ReasoningBlock } from './anthropic-tool-call-id.ts';

// Anthropic Messages response → OpenAI chat.completion.
// text blocks → content; thinking blocks → reasoning_content (each thinking and
// redacted_thinking block's signature or data carried on the id of the tool call after it); tool_use → tool_calls; the forced JSON-answer tool → content.

export function convertAnthropicResponse(json: unknown): ParsedChatResponse {
  const r = (json ?? {}) as Record<string, any>;
  const blocks: any[] = Array.isArray(r.content) ? r.content : [];
  let text = '';
  let reasoning = '';
  let pending: ReasoningBlock[] = [];
  let answeredWithJsonTool = false;
  const toolCalls: any[] = [];
  for (const b of blocks) {
    if (b?.type === 'text' && typeof b.text === 'string') text += b.text;
    else if (b?.type === 'thinking') {
      const thinking = typeof b.thinking === 'string' ? b.thinking : '';
      reasoning += thinking;
      if (typeof b.signature === 'string' && b.signature) pending.push({ type: 'thinking', length: thinking.length, signature: b.signature });
    } else if (b?.type === 'redacted_thinking') {
      if (typeof b.data === 'string' && b.data) pending.push({ type: 'redacted_thinking', data: b.data });
    } else if (b?.type === 'tool_use') {
      if (b.name === JSON_TOOL_NAME) {
        answeredWithJsonTool = true;
        text += JSON.stringify(b.input ?? {});
        continue;
      }
      toolCalls.push({
        id: encodeToolCallId(String(b.id), pending),
        type: 'function',
        function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) },
      });
      pending = [];
    }
    // Server-tool blocks have no OpenAI counterpart.
  }
  const message: Record<string, any> = { role: 'assistant', content: toolCalls.length && !text ? null : text, refusal: null };
  if (reasoning) message.reasoning_content = reasoning;
  if (toolCalls.length) message.tool_calls = toolCalls;
  const usage = convertAnthropicUsage(r.usage);
  const body: Record<string, any> = {
    id: typeof r.id === 'string' ? r.id : `msg_${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: r.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: mapAnthropicStopReason(r.stop_reason, { answeredWithJsonTool }) }],
  };
  if (usage) body.usage = writeOpenAIUsage({}, usage);
  return { body, usage };
}
