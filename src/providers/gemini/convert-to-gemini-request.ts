import { imposedOutputCap, type ChatCall } from '../types.ts';
import { checkRequestFields, UnsupportedFieldError, type FieldPolicy } from '../unsupported.ts';
import { convertToGeminiContents } from './convert-to-gemini-contents.ts';
import { convertToGeminiTools } from './convert-to-gemini-tools.ts';
import { isGemini3OrLater } from './gemini-model-generation.ts';

// OpenAI chat-completions request → Gemini generateContent request body.
// https://ai.google.dev/api/generate-content#request-body

/** reasoning_effort → thinkingBudget for Gemini 2.x (24_576 is 2.5 Flash's maximum). */
export const THINKING_BUDGETS: Record<string, number> = { none: 0, minimal: 512, low: 1024, medium: 8192, high: 24_576, xhigh: 24_576 };
/** reasoning_effort → thinkingLevel for Gemini 3 and later; levels a model lacks are refused upstream. */
const THINKING_LEVELS: Record<string, string> = { minimal: 'minimal', low: 'low', medium: 'medium', high: 'high', xhigh: 'high' };

const isZero = (v: unknown) => v === 0;

// Every top-level OpenAI field, and what happens to it. Fields not listed (audio,
// prediction, web_search_options, functions, function_call, verbosity, ...) are rejected.
const FIELDS: Record<string, FieldPolicy> = {
  model: 'handled',
  messages: 'handled',
  stream: 'handled',
  max_tokens: 'handled',
  max_completion_tokens: 'handled',
  temperature: 'handled',
  top_p: 'handled',
  top_k: 'handled', // not OpenAI, but a common extension Gemini supports natively
  stop: 'handled',
  tools: 'handled',
  tool_choice: 'handled',
  response_format: 'handled',
  reasoning_effort: 'handled',
  presence_penalty: 'handled',
  frequency_penalty: 'handled',
  seed: 'handled',
  // Harmless to drop: bookkeeping or transport options with no effect on the answer.
  // parallel_tool_calls: Gemini has no switch for it; clients send `false` routinely and
  // cope with several calls anyway, so it is ignored rather than refused.
  user: 'ignored',
  metadata: 'ignored',
  stream_options: 'ignored', // Gemini reports usage on every chunk
  store: 'ignored',
  service_tier: 'ignored',
  prompt_cache_key: 'ignored',
  safety_identifier: 'ignored',
  parallel_tool_calls: 'ignored',
  // Accepted only at their no-op values.
  n: (v) => v === 1,
  logprobs: (v) => v === false,
  top_logprobs: isZero,
  logit_bias: (v) => !!v && typeof v === 'object' && Object.keys(v).length === 0,
  modalities: (v) => Array.isArray(v) && v.every((m) => m === 'text'),
};

function stopSequences(stop: unknown): string[] | undefined {
  if (stop === undefined || stop === null) return undefined;
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw new UnsupportedFieldError('stop', 'stop must be a string or an array of strings.');
  const nonEmpty = list.filter((s) => s.length > 0);
  return nonEmpty.length ? nonEmpty : undefined;
}

function responseFormat(format: any): Record<string, any> {
  switch (format?.type) {
    case undefined:
    case 'text':
      return {};
    case 'json_object':
      return { responseMimeType: 'application/json' };
    case 'json_schema': {
      const schema = format.json_schema?.schema;
      if (!schema || typeof schema !== 'object') throw new UnsupportedFieldError('response_format', 'response_format json_schema needs json_schema.schema.');
      return { responseMimeType: 'application/json', responseJsonSchema: schema };
    }
    default:
      throw new UnsupportedFieldError('response_format', `response_format type "${format?.type}" is not supported by the gemini upstream.`);
  }
}

/** Output kept for the answer when a thinking budget must fit under the gateway's own cap. */
const ANSWER_ROOM = 4096;

function thinkingConfig(effort: unknown, model: string): Record<string, any> | undefined {
  if (effort === undefined || effort === null) return undefined;
  const e = String(effort);
  if (isGemini3OrLater(model)) {
    if (e === 'none') throw new UnsupportedFieldError('reasoning_effort', `Thinking cannot be turned off on ${model}.`);
    const level = THINKING_LEVELS[e];
    if (!level) throw new UnsupportedFieldError('reasoning_effort', `reasoning_effort "${e}" is not supported by the gemini upstream.`);
    return { thinkingLevel: level, includeThoughts: true };
  }
  const budget = THINKING_BUDGETS[e];
  if (budget === undefined) throw new UnsupportedFieldError('reasoning_effort', `reasoning_effort "${e}" is not supported by the gemini upstream.`);
  return budget === 0 ? { thinkingBudget: 0 } : { thinkingBudget: budget, includeThoughts: true };
}

export function convertToGeminiRequest(call: ChatCall): Record<string, any> {
  const b = call.body;
  checkRequestFields(b, FIELDS, 'gemini');
  const model = call.upstreamModel;
  const { systemInstruction, contents } = convertToGeminiContents(b.messages, model);
  const tools = convertToGeminiTools(b);

  const gen: Record<string, any> = {};
  const stop = stopSequences(b.stop);
  if (stop) gen.stopSequences = stop;
  const maxTokens = b.max_completion_tokens ?? b.max_tokens ?? imposedOutputCap(call);
  if (typeof maxTokens === 'number') gen.maxOutputTokens = maxTokens;
  if (typeof b.temperature === 'number') gen.temperature = b.temperature;
  if (typeof b.top_p === 'number') gen.topP = b.top_p;
  if (typeof b.top_k === 'number') gen.topK = b.top_k;
  if (typeof b.presence_penalty === 'number' && b.presence_penalty !== 0) gen.presencePenalty = b.presence_penalty;
  if (typeof b.frequency_penalty === 'number' && b.frequency_penalty !== 0) gen.frequencyPenalty = b.frequency_penalty;
  if (typeof b.seed === 'number') gen.seed = b.seed;
  Object.assign(gen, responseFormat(b.response_format));
  const thinking = thinkingConfig(b.reasoning_effort, model);
  // Gemini counts thoughts against maxOutputTokens. Where the gateway chose the cap (the
  // client set none), a budget as large as the cap (24,576 for "high" against 16,384)
  // let the model think to the end and answer nothing, charged in full; the budget gives
  // way, leaving the answer half the cap, up to 4,096 tokens, as on Anthropic. A cap the
  // client set is theirs to share, as OpenAI's max_completion_tokens is.
  const clientCap = b.max_completion_tokens ?? b.max_tokens;
  if (clientCap == null && typeof gen.maxOutputTokens === 'number' && typeof thinking?.thinkingBudget === 'number' && thinking.thinkingBudget > 0) {
    const answer = Math.min(ANSWER_ROOM, Math.floor(gen.maxOutputTokens / 2));
    thinking.thinkingBudget = Math.min(thinking.thinkingBudget, gen.maxOutputTokens - answer);
  }
  if (thinking) gen.thinkingConfig = thinking;

  const out: Record<string, any> = { contents };
  if (systemInstruction) out.systemInstruction = systemInstruction;
  if (tools.tools) out.tools = tools.tools;
  if (tools.toolConfig) out.toolConfig = tools.toolConfig;
  if (Object.keys(gen).length) out.generationConfig = gen;
  return out;
}
