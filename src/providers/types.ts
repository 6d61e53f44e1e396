import type { ProviderConfig } from '../config/schema.ts';
import type { PromptUsage, Usage } from '../protocol/usage.ts';

// The contract every upstream wire protocol implements. The gateway speaks OpenAI's
// chat-completions shape on both sides of this interface; everything provider-specific
// (paths, auth headers, field names, event names) lives in src/providers/<wire>/.

export type ChatBody = Record<string, any>;

export interface UpstreamRequest {
  /** Path and query appended to the provider's base_url, e.g. "/chat/completions". */
  path: string;
  headers: Record<string, string>;
  body: string;
  /** 'latin1' when `body` is a byte string (protocol/byte-strings.ts); text otherwise. */
  bodyEncoding?: 'utf8' | 'latin1';
}

export interface ChatCall {
  /** The client's request body (OpenAI shape), validated; do not mutate. */
  body: ChatBody;
  /** The body as the client sent it, as a byte string (protocol/byte-strings.ts), where
   *  there is one: `body` is its parse, but for the max-tokens members admission may have
   *  clamped. An OpenAI-wire adapter edits these bytes instead of serialising `body`. */
  bodyBytes?: string | undefined;
  /** The model name to send upstream. */
  upstreamModel: string;
  stream: boolean;
  /** An output cap the gateway imposes (the plan's) when the body sets none; each
   *  adapter writes it in its own protocol's field. */
  maxOutputTokens?: number | undefined;
  /** The model's own output cap (its config's max_output_tokens), where it has one: what a
   *  protocol that must always name a cap (Anthropic's max_tokens) sends when neither the
   *  body nor the plan sets one. */
  modelMaxOutputTokens?: number | undefined;
  /** The output per choice the gateway reserved money for: a protocol that picks a cap
   *  itself (Anthropic's max_tokens with thinking) stays within it. */
  reservedOutputTokens?: number | undefined;
}

/**
 * The output cap to send when the body sets none: the plan's, or, when neither the plan
 * nor the model's config caps output, what the gateway reserved (billing's default). Left
 * to its own default, an upstream may write far more (vLLM: the rest of the context) and
 * overdraw the balance by all of it. A model with a configured cap is trusted to keep
 * within it by default, and its requests go through unchanged.
 */
export function imposedOutputCap(call: ChatCall): number | undefined {
  return call.maxOutputTokens ?? (call.modelMaxOutputTokens === undefined ? call.reservedOutputTokens : undefined);
}

/** One thing to emit on the client's stream, produced from upstream events. */
export type StreamItem =
  /** An OpenAI chat.completion.chunk as JSON text, forwarded as `data: <json>`. */
  | { kind: 'chunk'; json: string }
  /** Complete `data: <chunk json>\n\n` frames, forwarded as they are (see gateway/sse-frames.ts). */
  | { kind: 'frames'; text: string; /** false when no frame in `text` mentions "usage" */ mentionsUsage: boolean }
  /** The usage the upstream reported. `frame` is an OpenAI usage chunk (choices: []) the
   *  gateway may show the client (with usage filled in) when it asked for usage. */
  | { kind: 'usage'; usage: Usage; frame: Record<string, any> }
  /** The prompt's usage, reported before the answer: what a stream cut before its 'usage'
   *  is billed for its input (its output is counted from what streamed). */
  | { kind: 'prompt-usage'; usage: PromptUsage }
  /** The upstream reported an error mid-stream. */
  | { kind: 'error'; error: UpstreamErrorInfo }
  /** The upstream finished the stream normally. */
  | { kind: 'done' };

export interface StreamTranslator {
  /**
   * True when push() forwards every one-line `data:` frame that holds no usage object
   * (protocol/usage.ts hasUsageObject) and no "error" unchanged as a 'chunk': the relay
   * then forwards runs of such frames without splitting them into events. Such a
   * translator gets each event's data as a byte string (protocol/byte-strings.ts): it
   * decodes what it parses, and a 'chunk' it pushes is a byte string; the usage frame
   * and the error it pushes are text, which the relay encodes.
   */
  readonly passesOpenAIFrames?: boolean;
  /** Feeds one upstream SSE event (event name may be absent); pushes items to `out`. */
  push(event: { event?: string | undefined; data: string }, out: StreamItem[]): void;
  /** Called when the upstream body ends; may push a final 'done'. */
  end(out: StreamItem[]): void;
  /** Usage the upstream reported that the translator holds until the stream ends (Groq's
   *  `x_groq`, in case a top-level report follows): what a stream cut before then is billed. */
  heldUsage?(): Usage | null;
}

export interface UpstreamErrorInfo {
  message: string;
  type?: string | undefined;
  code?: string | undefined;
  param?: string | undefined;
  /** The provider rejected the gateway's own credentials (whatever HTTP status it used). */
  credentialsRejected?: boolean | undefined;
  /** The provider refused for the operator's balance or quota there (not a rate limit). */
  fundsExhausted?: boolean | undefined;
  /** How long the provider asks to wait, when it says so in the body rather than a header. */
  retryAfterSeconds?: number | undefined;
}

export interface ParsedChatResponse {
  /** An OpenAI chat.completion object; the gateway rewrites model and usage. */
  body: Record<string, any>;
  usage: Usage | null;
  /** An error the upstream put in a 200 answer (as OpenRouter does beside a choice). */
  error?: UpstreamErrorInfo;
}

export interface ProviderAdapter {
  readonly kind: string;
  /**
   * True when parseChatResponse and parseEmbeddingsResponse return the upstream's own
   * JSON, not a translation. The gateway then reads the answer as a byte string
   * (protocol/byte-strings.ts) and sends the upstream's text back with only `model` and
   * `usage` replaced.
   */
  readonly passesOpenAIBodies?: boolean;
  /** Headers every request to this provider carries (auth, version). */
  authHeaders(provider: ProviderConfig): Record<string, string>;
  buildChatRequest(call: ChatCall, provider: ProviderConfig): UpstreamRequest;
  parseChatResponse(json: unknown): ParsedChatResponse;
  createStreamTranslator(call: ChatCall): StreamTranslator;
  /** Embeddings, where the wire protocol has them; `bodyBytes` as in ChatCall. */
  buildEmbeddingsRequest?(body: ChatBody, upstreamModel: string, provider: ProviderConfig, bodyBytes?: string): UpstreamRequest;
  parseEmbeddingsResponse?(json: unknown): ParsedChatResponse;
  /** Extracts what an upstream error body says (any known shape), never throwing. */
  parseError(status: number, text: string): UpstreamErrorInfo;
}
