import type { ChatCall, StreamItem, StreamTranslator } from '../types.ts';
import { promptPart, writeOpenAIUsage } from '../../protocol/usage.ts';
import { convertAnthropicUsage } from './convert-anthropic-usage.ts';
import { mapAnthropicStopReason, type FinishReason } from './map-anthropic-stop-reason.ts';
import { anthropicErrorInfo } from './parse-anthropic-error.ts';
import { JSON_TOOL_NAME } from './convert-to-anthropic-tools.ts';
import { encodeToolCallId, type ReasoningBlock } from './anthropic-tool-call-id.ts';

// Anthropic Messages SSE → OpenAI chat.completion.chunk frames.
// https://docs.anthropic.com/en/docs/build-with-claude/streaming
//
//   message_start        → first chunk, delta {role:'assistant', content:''}; input usage,
//                          as a 'prompt-usage' item for a stream cut before message_stop
//   content_block_start  → tool_use: chunk with the call's index, id, name, arguments ''
//   content_block_delta  → text_delta → content; thinking_delta → reasoning_content;
//                          input_json_delta → tool_calls[index].function.arguments;
//                          signature_delta → the block's signature; each thinking and
//                          redacted_thinking block rides on the next tool call's id
//   content_block_stop   → a tool call that streamed no arguments gets '{}'
//   message_delta        → stop_reason; cumulative output usage
//   message_stop         → final chunk with finish_reason, one 'usage' item (if any
//                          usage came), 'done'
//   ping                 → nothing;  error → 'error' item
// Anthropic's block index counts text and thinking blocks too; OpenAI tool call indices
// count tool calls only, so blocks are mapped to their own call index. The forced
// JSON-answer tool (convert-to-anthropic-tools.ts) streams as content instead.

interface ToolBlock {
  callIndex: number;
  asContent: boolean;
  /** Some input_json_delta text came: a call without arguments streams none. */
  hasArguments: boolean;
}

export function createAnthropicStreamTranslator(call: ChatCall): StreamTranslator {
  const created = Math.floor(Date.now() / 1000);
  let id = `msg_${created}`;
  let model = call.upstreamModel;
  let started = false;
  let finished = false;
  /** Reasoning blocks since the last tool_use, for the next tool call's id. */
  let pending: ReasoningBlock[] = [];
  const thinkingBlocks = new Map<number, Extract<ReasoningBlock, { type: 'thinking' }>>();
  let nextCallIndex = 0;
  let answeredWithJsonTool = false;
  let stopReason: unknown;
  let rawUsage: Record<string, any> = {};
  /** message_delta came: rawUsage holds the answer's output too, not only the prompt's. */
  let outputReported = false;
  let upstreamError = false;
  const toolBlocks = new Map<number, ToolBlock>();

  const chunk = (delta: Record<string, any>, finish: FinishReason | null = null): StreamItem => ({
    kind: 'chunk',
    json: JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] }),
  });

  const start = (out: StreamItem[]) => {
    if (started) return;
    started = true;
    out.push(chunk({ role: 'assistant', content: '' }));
  };

  const mergeUsage = (u: unknown) => {
    if (!u || typeof u !== 'object') return;
    // message_delta usage is cumulative; a null field there means "unchanged". Any other
    // value is taken, a string too: it is for convertAnthropicUsage (and then billing) to
    // judge, not to be passed over for the message_start count it should have replaced.
    for (const [k, v] of Object.entries(u)) if (v !== null) rawUsage[k] = v;
  };

  return {
    push(event, out) {
      if (finished) return;
      let ev: Record<string, any>;
      try {
        ev = JSON.parse(event.data);
      } catch {
        return; // not JSON: keep-alive comment or garbage, nothing to translate
      }
      const type = typeof ev?.type === 'string' ? ev.type : event.event;
      switch (type) {
        case 'message_start': {
          const m = ev.message ?? {};
          if (typeof m.id === 'string') id = m.id;
          if (typeof m.model === 'string' && m.model) model = m.model;
          mergeUsage(m.usage);
          const prompt = convertAnthropicUsage(rawUsage);
          if (prompt) out.push({ kind: 'prompt-usage', usage: promptPart(prompt) });
          start(out);
          break;
        }
        case 'content_block_start': {
          start(out);
          const b = ev.content_block ?? {};
          if (b.type === 'tool_use') {
            if (b.name === JSON_TOOL_NAME) {
              answeredWithJsonTool = true;
              toolBlocks.set(ev.index, { callIndex: -1, asContent: true, hasArguments: false });
              break;
            }
            const callIndex = nextCallIndex++;
            toolBlocks.set(ev.index, { callIndex, asContent: false, hasArguments: false });
            const callId = encodeToolCallId(String(b.id), pending.filter((rb) => rb.type === 'redacted_thinking' || rb.signature));
            pending = [];
            out.push(chunk({ tool_calls: [{ index: callIndex, id: callId, type: 'function', function: { name: b.name, arguments: '' } }] }));
          } else if (b.type === 'text' && typeof b.text === 'string' && b.text) {
            out.push(chunk({ content: b.text }));
          } else if (b.type === 'thinking') {
            const thinking = typeof b.thinking === 'string' ? b.thinking : '';
            const rb = { type: 'thinking' as const, length: thinking.length, signature: typeof b.signature === 'string' ? b.signature : '' };
            thinkingBlocks.set(ev.index, rb);
            pending.push(rb);
            if (thinking) out.push(chunk({ reasoning_content: thinking }));
          } else if (b.type === 'redacted_thinking' && typeof b.data === 'string' && b.data) {
            pending.push({ type: 'redacted_thinking', data: b.data });
          }
          break;
        }
        case 'content_block_delta': {
          start(out);
          const d = ev.delta ?? {};
          if (d.type === 'text_delta' && typeof d.text === 'string' && d.text) out.push(chunk({ content: d.text }));
          else if (d.type === 'thinking_delta' && typeof d.thinking === 'string' && d.thinking) {
            const rb = thinkingBlocks.get(ev.index);
            if (rb) rb.length = (rb.length ?? 0) + d.thinking.length;
            out.push(chunk({ reasoning_content: d.thinking }));
          } else if (d.type === 'signature_delta' && typeof d.signature === 'string') {
            const rb = thinkingBlocks.get(ev.index);
            if (rb) rb.signature += d.signature;
          }
          else if (d.type === 'input_json_delta' && typeof d.partial_json === 'string' && d.partial_json) {
            const tb = toolBlocks.get(ev.index);
            if (!tb) break;
            tb.hasArguments = true;
            if (tb.asContent) out.push(chunk({ content: d.partial_json }));
            else out.push(chunk({ tool_calls: [{ index: tb.callIndex, function: { arguments: d.partial_json } }] }));
          }
          break;
        }
        case 'content_block_stop': {
          // OpenAI streams a call without arguments as "{}", as the JSON answer says it;
          // deltas that add up to "" are not JSON, and clients parse them.
          const tb = toolBlocks.get(ev.index);
          if (!tb || tb.hasArguments) break;
          tb.hasArguments = true;
          out.push(tb.asContent ? chunk({ content: '{}' }) : chunk({ tool_calls: [{ index: tb.callIndex, function: { arguments: '{}' } }] }));
          break;
        }
        case 'message_delta':
          if (ev.delta && ev.delta.stop_reason !== undefined) stopReason = ev.delta.stop_reason;
          mergeUsage(ev.usage);
          if (ev.usage) outputReported = true;
          break;
        case 'message_stop': {
          start(out);
          finished = true;
          out.push(chunk({}, mapAnthropicStopReason(stopReason, { answeredWithJsonTool })));
          // No usage reported, no usage item: the gateway bills the stream by estimate.
          const usage = convertAnthropicUsage(rawUsage);
          if (usage) out.push({ kind: 'usage', usage, frame: { id, object: 'chat.completion.chunk', created, model, choices: [], usage: writeOpenAIUsage({}, usage) } });
          out.push({ kind: 'done' });
          break;
        }
        case 'error':
          finished = true;
          upstreamError = true;
          out.push({ kind: 'error', error: anthropicErrorInfo(ev.error) });
          break;
        default:
          break; // ping, and event types added later
      }
    },
    end(out) {
      if (!finished) {
        finished = true;
        out.push({ kind: 'error', error: { message: 'The anthropic stream ended before message_stop.', type: 'api_error', code: 'stream_truncated' } });
      }
    },
    // Cut after message_delta (the answer's final output count) but before message_stop:
    // that report is what the answer cost, thinking included, not an estimate of its text.
    heldUsage() {
      return outputReported && !upstreamError ? convertAnthropicUsage(rawUsage) : null;
    },
  };
}
