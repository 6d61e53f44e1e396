import { imposedOutputCap, type ChatCall, type ProviderAdapter, type StreamItem, type StreamTranslator, type UpstreamErrorInfo } from '../types.ts';
import { withTopLevelMembers } from '../../protocol/json-members.ts';
import { hasUsageObject, readOpenAIUsage } from '../../protocol/usage.ts';
import { fromByteString, toByteString } from '../../protocol/byte-strings.ts';
import type { ProviderConfig } from '../../config/schema.ts';
import { mayHoldEncodedToolCallIds, replaceEncodedToolCallIds, withOpenAIToolCallIds } from './tool-call-ids.ts';

// OpenAI and every OpenAI-compatible upstream (DeepSeek, Moonshot, Groq, vLLM, Ollama...).
// The request passes through untouched except for `model` and `stream_options`: fields
// Tollgate does not know about reach the upstream as the client sent them.

function authHeaders(provider: ProviderConfig): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  if (provider.api_key) h.authorization = `Bearer ${provider.api_key}`;
  return h;
}

function createStreamTranslator(): StreamTranslator {
  // Groq reports usage under `x_groq` in its last chunk (and, asked for include_usage,
  // may also send the usual usage frame): kept until the stream ends, and reported only
  // if no top-level usage came, so the stream is metered once, not by estimate.
  let groqUsage: Extract<StreamItem, { kind: 'usage' }> | null = null;
  let sawUsage = false;
  const flushGroqUsage = (out: StreamItem[]): void => {
    if (groqUsage && !sawUsage) out.push(groqUsage);
    groqUsage = null;
  };
  return {
    passesOpenAIFrames: true,
    push(event, out) {
      const data = event.data;
      // OpenAI's chat streams name no events; `message` is SSE's name for an unnamed one.
      // A named event is not a chunk: `error` (vLLM, proxies) ends the stream as an error,
      // whose text is scrubbed like any other upstream error's; others (`ping`) are dropped,
      // not relayed as chunks without choices.
      if (event.event !== undefined && event.event !== 'message') {
        if (event.event === 'error') out.push({ kind: 'error', error: namedErrorEvent(data) });
        return;
      }
      if (data === '[DONE]') {
        flushGroqUsage(out);
        out.push({ kind: 'done' });
        return;
      }
      // Relayed as they came: frames with choices, no usage and no error. A frame with a
      // \u escape is parsed too, since `"\u0065rror"` is an error member that no text
      // search finds; so is one without choices, which may be an error in another shape.
      if (!hasUsageObject(data) && !data.includes('"error"') && !data.includes('\\u') && data.includes('"choices"')) {
        out.push({ kind: 'chunk', json: data });
        return;
      }
      // `data` is a byte string (types.ts, passesOpenAIFrames): decoded to be parsed, so a
      // \u escape cannot mix text into bytes. The chunk rebuilt from it is encoded again;
      // the usage frame and the error stay text, which the relay encodes.
      let frame: Record<string, any>;
      try {
        frame = JSON.parse(fromByteString(data));
      } catch {
        // A frame no client could read either; one naming "error" is taken for a broken
        // error frame, whose text must not reach the client unscrubbed.
        if (data.includes('"error"')) out.push({ kind: 'error', error: { message: 'The upstream provider sent an unreadable error event.' } });
        else out.push({ kind: 'chunk', json: data });
        return;
      }
      // Any error member ends the stream: an object or a bare string, with or without
      // choices (OpenRouter sends one alongside a choice with finish_reason "error").
      if (frame && frame.error != null && frame.error !== false) {
        out.push({ kind: 'error', error: frameErrorInfo(frame.error) });
        return;
      }
      // An error in another shape ({code, msg}, as some gateways send; a bare message): a
      // frame with no choices and no usage that carries a message is no chunk.
      if (frame && typeof frame === 'object' && !Array.isArray(frame.choices) && !hasUsageObject(data) && (typeof frame.msg === 'string' || typeof frame.message === 'string')) {
        out.push({ kind: 'error', error: errorInfo(frame) });
        return;
      }
      // Moonshot puts usage inside choices[0]; OpenAI and DeepSeek on a final frame.
      const choiceUsage = Array.isArray(frame.choices) ? frame.choices.find((c: any) => c && typeof c.usage === 'object' && c.usage) : undefined;
      const raw = frame.usage && typeof frame.usage === 'object' ? frame.usage : choiceUsage?.usage;
      const usage = readOpenAIUsage(raw);
      if (!usage) {
        const groq = frame.x_groq?.usage && typeof frame.x_groq.usage === 'object' ? readOpenAIUsage(frame.x_groq.usage) : null;
        if (groq) groqUsage = { kind: 'usage', usage: groq, frame: usageFrame(frame, { ...frame.x_groq.usage }) };
        out.push({ kind: 'chunk', json: data });
        return;
      }
      sawUsage = true;
      if (choiceUsage) delete choiceUsage.usage;
      const hasChoices = Array.isArray(frame.choices) && frame.choices.length > 0;
      if (hasChoices) {
        // A content frame that also carries usage: forward the content, report usage apart.
        const { usage: _u, ...rest } = frame;
        out.push({ kind: 'chunk', json: toByteString(JSON.stringify(rest)) });
      }
      out.push({ kind: 'usage', usage, frame: usageFrame(frame, raw) });
    },
    end(out) {
      flushGroqUsage(out);
    },
    heldUsage() {
      return groqUsage && !sawUsage ? groqUsage.usage : null;
    },
  };
}

/** The usage frame sent apart from the upstream's chunk that carried `usage`. */
function usageFrame(frame: Record<string, any>, usage: Record<string, any>): Record<string, any> {
  return { id: frame.id, object: 'chat.completion.chunk', created: frame.created, model: frame.model, ...(frame.system_fingerprint !== undefined ? { system_fingerprint: frame.system_fingerprint } : {}), choices: [], usage };
}

/** The error an `event: error` carries: an OpenAI error body, a bare error object, or text. */
function namedErrorEvent(data: string): UpstreamErrorInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromByteString(data));
  } catch {
    return { message: 'The upstream provider sent an error event.' };
  }
  const body = parsed as Record<string, unknown> | null;
  return frameErrorInfo(body && typeof body === 'object' && body.error != null ? body.error : parsed);
}

function frameErrorInfo(e: unknown): UpstreamErrorInfo {
  if (typeof e === 'string') return { message: e || 'upstream error' };
  return e && typeof e === 'object' ? errorInfo(e) : { message: 'upstream error' };
}

function errorInfo(e: any): UpstreamErrorInfo {
  const type = typeof e?.type === 'string' ? e.type : undefined;
  const code = typeof e?.code === 'string' ? e.code : typeof e?.code === 'number' ? String(e.code) : undefined;
  return {
    message: typeof e?.message === 'string' ? e.message : typeof e?.msg === 'string' ? e.msg : 'upstream error',
    type,
    code,
    param: typeof e?.param === 'string' ? e.param : undefined,
    // OpenAI says 429 insufficient_quota when the account's credit is used up.
    ...(type === 'insufficient_quota' || code === 'insufficient_quota' ? { fundsExhausted: true } : {}),
  };
}

export const openaiAdapter: ProviderAdapter = {
  kind: 'openai',
  passesOpenAIBodies: true,
  authHeaders,
  buildChatRequest(call: ChatCall, provider) {
    const b = call.body;
    const changes: Record<string, unknown> = { model: call.upstreamModel };
    // Admission may have clamped these in `body`; the client's text has what it asked for.
    if (b.max_tokens != null) changes.max_tokens = b.max_tokens;
    if (b.max_completion_tokens != null) changes.max_completion_tokens = b.max_completion_tokens;
    // OpenAI's reasoning models refuse max_tokens, and max_completion_tokens is taken by
    // every OpenAI chat model: a provider that says it takes max_completion_tokens gets
    // a lone max_tokens (older SDKs, LangChain, the Vercel AI SDK for model ids it does
    // not know) under that name, rather than a 400 for a field the operator ruled out.
    if (provider.max_tokens_field === 'max_completion_tokens' && b.max_tokens != null && b.max_completion_tokens == null) {
      changes.max_completion_tokens = b.max_tokens;
      changes.max_tokens = undefined; // dropped: withTopLevelMembers declines, so the body is re-serialised below
    }
    // And the other way: DeepSeek, Moonshot and most OpenAI-compatible servers read only
    // max_tokens, so a lone max_completion_tokens (newer SDK code) capped nothing there:
    // not the plan's output cap, not what was reserved.
    if (provider.max_tokens_field === 'max_tokens' && b.max_completion_tokens != null && b.max_tokens == null) {
      changes.max_tokens = b.max_completion_tokens;
      changes.max_completion_tokens = undefined;
    }
    const cap = imposedOutputCap(call);
    if (cap !== undefined && b.max_tokens == null && b.max_completion_tokens == null) changes[provider.max_tokens_field] = cap;
    if (call.stream) {
      // Always ask for usage so streams are metered; the gateway strips the frame again
      // when the client did not ask for it.
      changes.stream_options = { ...(b.stream_options ?? {}), include_usage: true };
    }
    let text = call.bodyBytes === undefined ? null : withTopLevelMembers(call.bodyBytes, changes, true);
    // Tool call ids another adapter encoded, from a turn another provider answered
    // (tool-call-ids.ts): the only other edit, and only in a body that holds its marker.
    if (text !== null && mayHoldEncodedToolCallIds(text)) text = replaceEncodedToolCallIds(text, b.messages);
    if (text !== null) return { path: '/chat/completions', headers: authHeaders(provider), body: text, bodyEncoding: 'latin1' };
    const out = { ...b, ...changes };
    if (Array.isArray(b.messages)) out.messages = withOpenAIToolCallIds(b.messages);
    return { path: '/chat/completions', headers: authHeaders(provider), body: JSON.stringify(out) };
  },
  parseChatResponse(json) {
    const body = json as Record<string, any>;
    // As in streams, any error member makes the answer an error, with or without choices.
    if (body && body.error != null && body.error !== false) return { body, usage: null, error: frameErrorInfo(body.error) };
    return { body, usage: readOpenAIUsage(body?.usage) };
  },
  createStreamTranslator,
  buildEmbeddingsRequest(body, upstreamModel, provider, bodyBytes) {
    const text = bodyBytes === undefined ? null : withTopLevelMembers(bodyBytes, { model: upstreamModel }, true);
    if (text !== null) return { path: '/embeddings', headers: authHeaders(provider), body: text, bodyEncoding: 'latin1' };
    return { path: '/embeddings', headers: authHeaders(provider), body: JSON.stringify({ ...body, model: upstreamModel }) };
  },
  parseEmbeddingsResponse(json) {
    const body = json as Record<string, any>;
    if (body && body.error != null && body.error !== false) return { body, usage: null, error: frameErrorInfo(body.error) };
    return { body, usage: readOpenAIUsage(body?.usage, 'embeddings') };
  },
  parseError(_status, text) {
    // OpenAI: {"error":{...}}; LinkModel-style: {"code","msg","request_id"}; plain text.
    try {
      const j = JSON.parse(text);
      if (j && typeof j === 'object') {
        if (j.error && typeof j.error === 'object') return errorInfo(j.error);
        if (typeof j.error === 'string') return { message: j.error };
        if (typeof j.msg === 'string' || typeof j.message === 'string') return errorInfo(j);
      }
    } catch {
      /* not JSON */
    }
    const trimmed = text.trim().slice(0, 300);
    return { message: trimmed || 'upstream error' };
  },
};
