import { randomBytes } from 'node:crypto';
import type { ParsedChatResponse } from '../types.ts';
import { writeOpenAIUsage } from '../../protocol/usage.ts';
import { convertGeminiUsage } from './convert-gemini-usage.ts';
import { geminiFinishFailure, mapGeminiFinishReason } from './map-gemini-finish-reason.ts';
import { readCandidateParts, toOpenAIToolCall } from './read-gemini-candidate.ts';

// Gemini GenerateContentResponse → OpenAI chat.completion. Only the first candidate is
// read (n > 1 is refused when building the request). A prompt blocked before generation
// (promptFeedback.blockReason, no candidates) is an empty answer with content_filter.

export function geminiCompletionId(r: any): string {
  return `chatcmpl-${typeof r?.responseId === 'string' && r.responseId ? r.responseId : randomBytes(12).toString('hex')}`;
}

export function convertGeminiResponse(json: unknown): ParsedChatResponse {
  const r = (json ?? {}) as Record<string, any>;
  const candidate = Array.isArray(r.candidates) ? r.candidates[0] : undefined;
  const { text, reasoning, toolCalls } = readCandidateParts(candidate);
  const message: Record<string, any> = { role: 'assistant', content: toolCalls.length && !text ? null : text, refusal: null };
  if (reasoning) message.reasoning_content = reasoning;
  if (toolCalls.length) message.tool_calls = toolCalls.map(toOpenAIToolCall);
  const finish = !candidate && r.promptFeedback?.blockReason ? 'content_filter' : mapGeminiFinishReason(candidate?.finishReason, toolCalls.length > 0);
  const usage = convertGeminiUsage(r.usageMetadata);
  const body: Record<string, any> = {
    id: geminiCompletionId(r),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: r.modelVersion,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
  };
  if (usage) body.usage = writeOpenAIUsage({}, usage);
  const error = geminiFinishFailure(candidate?.finishReason);
  return error ? { body, usage, error } : { body, usage };
}
