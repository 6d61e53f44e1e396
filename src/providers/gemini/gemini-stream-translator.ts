import type { ChatCall, StreamItem, StreamTranslator } from '../types.ts';
import { promptPart, writeOpenAIUsage } from '../../protocol/usage.ts';
import { convertGeminiUsage } from './convert-gemini-usage.ts';
import { geminiFinishFailure, mapGeminiFinishReason, type FinishReason } from './map-gemini-finish-reason.ts';
import { geminiErrorInfo } from './parse-gemini-error.ts';
import { readCandidateParts, toOpenAIToolCall } from './read-gemini-candidate.ts';
import { geminiCompletionId } from './convert-gemini-response.ts';

// Gemini streamGenerateContent?alt=sse → OpenAI chat.completion.chunk frames.
// Every SSE event is a whole GenerateContentResponse holding the *new* parts; usage is
// cumulative on each. Gemini sends each function call whole, so a call becomes two
// chunks: {index, id, type, function:{name, arguments:''}} then {index, function:{arguments}}.
// The chunk with finishReason closes the choice; when the body then ends, one 'usage'
// item (if any usage came) and 'done' follow. A body that ends without finishReason
// yields an 'error' item; `{"error":{...}}` mid-stream, or a finishReason saying the
// tool call failed (map-gemini-finish-reason.ts), yields an 'error' item at once.

export function createGeminiStreamTranslator(call: ChatCall): StreamTranslator {
  const created = Math.floor(Date.now() / 1000);
  let id = '';
  let model = call.upstreamModel;
  let finish: FinishReason | null = null;
  let failed = false;
  let toolCallCount = 0;
  let rawUsage: Record<string, any> | undefined;
  /** The upstream said the answer failed (an error, a failed tool call), as opposed to a cut. */
  let upstreamFailed = false;

  const chunk = (delta: Record<string, any>, finishReason: FinishReason | null = null): StreamItem => ({
    kind: 'chunk',
    json: JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] }),
  });

  return {
    push(event, out) {
      if (failed || finish) {
        // After finishReason only a trailing usage update may still come.
        if (finish && !failed) {
          try {
            const r = JSON.parse(event.data);
            if (r?.usageMetadata) rawUsage = r.usageMetadata;
          } catch {
            /* ignore */
          }
        }
        return;
      }
      let r: any;
      try {
        r = JSON.parse(event.data);
      } catch {
        return;
      }
      if (Array.isArray(r)) r = r[0];
      if (r?.error && typeof r.error === 'object') {
        failed = true;
        upstreamFailed = true;
        out.push({ kind: 'error', error: geminiErrorInfo(r.error) });
        return;
      }
      if (!id) {
        id = geminiCompletionId(r);
        if (typeof r?.modelVersion === 'string' && r.modelVersion) model = r.modelVersion;
        out.push(chunk({ role: 'assistant', content: '' }));
      }
      if (r?.usageMetadata) {
        // The prompt's counts come on the first chunk: for a stream cut before the end.
        const prompt = rawUsage ? null : convertGeminiUsage(r.usageMetadata);
        if (prompt) out.push({ kind: 'prompt-usage', usage: promptPart(prompt) });
        rawUsage = r.usageMetadata;
      }
      const candidate = Array.isArray(r?.candidates) ? r.candidates[0] : undefined;
      const { text, reasoning, toolCalls } = readCandidateParts(candidate);
      if (reasoning) out.push(chunk({ reasoning_content: reasoning }));
      if (text) out.push(chunk({ content: text }));
      for (const c of toolCalls) {
        const index = toolCallCount++;
        const { function: fn, ...rest } = toOpenAIToolCall(c);
        out.push(chunk({ tool_calls: [{ index, ...rest, function: { name: fn.name, arguments: '' } }] }));
        out.push(chunk({ tool_calls: [{ index, function: { arguments: fn.arguments } }] }));
      }
      const failure = geminiFinishFailure(candidate?.finishReason);
      if (failure) {
        failed = true;
        upstreamFailed = true;
        out.push({ kind: 'error', error: failure });
        return;
      }
      if (candidate?.finishReason) finish = mapGeminiFinishReason(candidate.finishReason, toolCallCount > 0);
      else if (!candidate && r?.promptFeedback?.blockReason) finish = 'content_filter';
      if (finish) out.push(chunk({}, finish));
    },
    end(out) {
      if (failed) return;
      if (!finish) {
        failed = true;
        out.push({ kind: 'error', error: { message: 'The gemini stream ended before a finishReason.', type: 'api_error', code: 'stream_truncated' } });
        return;
      }
      // No usage reported, no usage item: the gateway bills the stream by estimate.
      const usage = convertGeminiUsage(rawUsage);
      if (usage) out.push({ kind: 'usage', usage, frame: { id, object: 'chat.completion.chunk', created, model, choices: [], usage: writeOpenAIUsage({}, usage) } });
      out.push({ kind: 'done' });
    },
    // Every chunk carries the usage so far, thinking included (Gemini 2.5 thinks before
    // its first visible token, and thoughtsTokenCount says how much): a stream cut or
    // left early is billed that, not the prompt and a count of the visible text.
    heldUsage() {
      return upstreamFailed ? null : convertGeminiUsage(rawUsage);
    },
  };
}
