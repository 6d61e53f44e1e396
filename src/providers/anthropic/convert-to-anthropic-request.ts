import type { ChatCall } from '../types.ts';
import { checkRequestFields, UnsupportedFieldError, type FieldPolicy } from '../unsupported.ts';
import { convertToAnthropicMessages, thinkingAllowed } from './convert-to-anthropic-messages.ts';
import { convertToAnthropicTools } from './convert-to-anthropic-tools.ts';

// OpenAI chat-completions request → Anthropic Messages request body.
// https://docs.anthropic.com/en/api/messages

/**
 * Anthropic requires max_tokens. A request without max_completion_tokens / max_tokens
 * (and no plan cap) gets the model's configured max_output_tokens, as OpenAI lets such a
 * request run to the model's limit (and the gateway reserved for that many); a model
 * configured without one gets 4096, accepted by every current Claude model. With
 * thinking on and no cap known, the thinking budget is added on top.
 */
export const DEFAULT_MAX_TOKENS = 4096;

/** reasoning_effort → thinking.budget_tokens (Anthropic's minimum budget is 1024). */
export const THINKING_BUDGETS: Record<string, number> = { minimal: 1024, low: 2048, medium: 8192, high: 16_384, xhigh: 32_768 };
const MIN_THINKING_BUDGET = 1024;

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
  top_k: 'handled', // not OpenAI, but a common extension Anthropic supports natively
  stop: 'handled',
  tools: 'handled',
  tool_choice: 'handled',
  parallel_tool_calls: 'handled', // false → disable_parallel_tool_use
  response_format: 'handled',
  reasoning_effort: 'handled',
  // Harmless to drop: bookkeeping or transport options with no effect on the answer.
  // `seed` only asks for best-effort determinism, which nothing guarantees anyway.
  user: 'ignored',
  metadata: 'ignored',
  stream_options: 'ignored', // the gateway asks the translator for usage; Anthropic always reports it
  store: 'ignored',
  service_tier: 'ignored',
  prompt_cache_key: 'ignored',
  safety_identifier: 'ignored',
  seed: 'ignored',
  // Accepted only at their no-op values.
  n: (v) => v === 1,
  logprobs: (v) => v === false,
  top_logprobs: isZero,
  presence_penalty: isZero,
  frequency_penalty: isZero,
  logit_bias: (v) => !!v && typeof v === 'object' && Object.keys(v).length === 0,
  modalities: (v) => Array.isArray(v) && v.every((m) => m === 'text'),
};

function stopSequences(stop: unknown): string[] | undefined {
  if (stop === undefined || stop === null) return undefined;
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw new UnsupportedFieldError('stop', 'stop must be a string or an array of strings.');
  const nonEmpty = list.filter((s) => s.length > 0);
  // Anthropic answers 400 "stop_sequences: each stop sequence must contain non-whitespace"
  // to e.g. "\n\n"; dropping it would change the answer, so the client is told instead.
  if (nonEmpty.some((s) => !s.trim())) throw new UnsupportedFieldError('stop', 'The anthropic upstream does not accept whitespace-only stop sequences.');
  return nonEmpty.length ? nonEmpty : undefined;
}

function thinkingBudget(effort: unknown): number | undefined {
  if (effort === undefined || effort === null || effort === 'none') return undefined;
  const budget = typeof effort === 'string' ? THINKING_BUDGETS[effort] : undefined;
  if (!budget) throw new UnsupportedFieldError('reasoning_effort', `reasoning_effort "${String(effort)}" is not supported by the anthropic upstream.`);
  return budget;
}

export function convertToAnthropicRequest(call: ChatCall): Record<string, any> {
  const b = call.body;
  checkRequestFields(b, FIELDS, 'anthropic');
  if (typeof b.temperature === 'number' && b.temperature > 1) {
    throw new UnsupportedFieldError('temperature', `Anthropic accepts temperature between 0 and 1, not ${b.temperature}.`);
  }

  const explicitMax = b.max_completion_tokens ?? b.max_tokens ?? call.maxOutputTokens ?? call.modelMaxOutputTokens;
  const { system, messages } = convertToAnthropicMessages(b.messages);
  // Decided first: a step that goes up without thinking (thinkingAllowed) is held to none
  // of thinking's rules below (temperature, top_p, top_k, the budget under max_tokens).
  const asked = thinkingBudget(b.reasoning_effort);
  let budget = asked !== undefined && thinkingAllowed(messages) ? asked : undefined;
  let maxTokens: number = typeof explicitMax === 'number' ? explicitMax : DEFAULT_MAX_TOKENS;
  if (budget !== undefined) {
    if (typeof explicitMax === 'number') {
      // OpenAI's max_completion_tokens includes reasoning, like Anthropic's max_tokens
      // includes the thinking budget; the budget must be below max_tokens.
      if (explicitMax <= MIN_THINKING_BUDGET) {
        throw new UnsupportedFieldError('reasoning_effort', `Anthropic thinking needs max_completion_tokens above ${MIN_THINKING_BUDGET}.`);
      }
      budget = Math.min(budget, explicitMax - 1);
    } else {
      // No cap from the client, plan or model: the budget on top of the default answer,
      // but within the output the gateway reserved for; past it, the budget gives way so
      // that the answer keeps its default room. 32,768 + 4096 used to be sent against a
      // reservation of 16,384, and the upstream billed what the customer could not cover.
      maxTokens = Math.min(budget + DEFAULT_MAX_TOKENS, call.reservedOutputTokens ?? Infinity);
      if (maxTokens <= MIN_THINKING_BUDGET) {
        throw new UnsupportedFieldError('reasoning_effort', `Anthropic thinking needs max_completion_tokens above ${MIN_THINKING_BUDGET}.`);
      }
      budget = Math.min(Math.max(MIN_THINKING_BUDGET, Math.min(budget, maxTokens - DEFAULT_MAX_TOKENS)), maxTokens - 1);
    }
  }

  // Anthropic answers 400 to thinking with a modified temperature or top_k, or top_p
  // below 0.95 (whatever the model); the client is told which field, before any call.
  if (budget !== undefined) {
    if (typeof b.temperature === 'number' && b.temperature !== 1) throw new UnsupportedFieldError('temperature', 'The anthropic upstream accepts reasoning_effort only with temperature 1 or unset.');
    if (typeof b.top_k === 'number') throw new UnsupportedFieldError('top_k', 'The anthropic upstream does not accept top_k with reasoning_effort.');
    if (typeof b.top_p === 'number' && b.top_p < 0.95) throw new UnsupportedFieldError('top_p', 'The anthropic upstream accepts reasoning_effort only with top_p between 0.95 and 1, or unset.');
  }

  const tools = convertToAnthropicTools(b, { thinking: budget !== undefined, messages });

  const out: Record<string, any> = { model: call.upstreamModel, max_tokens: maxTokens, messages };
  if (system) out.system = system;
  const stop = stopSequences(b.stop);
  if (stop) out.stop_sequences = stop;
  if (typeof b.temperature === 'number') out.temperature = b.temperature;
  // Claude 4.5 and later refuse temperature and top_p together ("cannot both be
  // specified"), and OpenAI clients often send top_p: 1 beside a temperature, which
  // changes nothing (the whole distribution): left out then. Any other pair goes up as
  // asked, for the model to take or refuse.
  if (typeof b.top_p === 'number' && !(b.top_p === 1 && typeof b.temperature === 'number')) out.top_p = b.top_p;
  if (typeof b.top_k === 'number') out.top_k = b.top_k;
  if (tools.tools) out.tools = tools.tools;
  if (tools.tool_choice) out.tool_choice = tools.tool_choice;
  if (budget !== undefined) out.thinking = { type: 'enabled', budget_tokens: budget };
  if (call.stream) out.stream = true;
  return out;
}
