import { UnsupportedFieldError } from '../unsupported.ts';
import { parseToolArguments } from '../tool-arguments.ts';
import { convertImageUrlToAnthropicSource, parseDataUri } from './convert-image-url-to-anthropic-source.ts';
import { decodeToolCallId, type ReasoningBlock } from './anthropic-tool-call-id.ts';

// OpenAI `messages` → Anthropic `system` + `messages`.
// - system and developer messages, wherever they appear, become the top-level `system`
//   blocks in order (Anthropic has no system role inside `messages`).
// - `tool` messages become `tool_result` blocks in a user turn; consecutive same-role turns
//   are merged because Anthropic requires user/assistant alternation, and tool_result
//   blocks are moved first within a user turn as Anthropic requires.
// - assistant `tool_calls` become `tool_use` blocks; the thinking and redacted_thinking
//   blocks carried in each tool call id (anthropic-tool-call-id.ts), with their text cut
//   from `reasoning_content`, go back before it, in the order Anthropic sent them.
// - `cache_control` on a content part is passed through (prompt caching).
// - whitespace-only text in system, assistant and tool messages is left out, and a final
//   assistant prefill loses its trailing whitespace: Anthropic refuses both with a 400
//   ("text content blocks must contain non-whitespace text", "final assistant content
//   cannot end with trailing whitespace"), and chat histories are full of them (a
//   model's "\n\n" before its tool calls). Whitespace in a user's own text is theirs.
// - a conversation that opens with the assistant gets a placeholder user turn first.
// https://docs.anthropic.com/en/api/messages

type Block = Record<string, any>;
export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}
export interface AnthropicPrompt {
  system: Block[] | undefined;
  messages: AnthropicMessage[];
}

function withCacheControl(block: Block, part: any, param: string): Block {
  if (part && typeof part === 'object' && part.cache_control && typeof part.cache_control === 'object') {
    // Anthropic bills a 1-hour cache write at twice the input price, a 5-minute one at
    // 1.25 times; a model's prices have one cache_write, which is the 5-minute one. A
    // 1-hour write passed on was charged 37.5% under its cost, at the client's choice.
    const ttl = part.cache_control.ttl;
    if (ttl !== undefined && ttl !== '5m') {
      throw new UnsupportedFieldError(`${param}.cache_control.ttl`, `Only 5-minute cache writes to the anthropic upstream are priced by this gateway; leave out ttl, or set it to "5m", not ${JSON.stringify(String(ttl).slice(0, 20))}.`);
    }
    block.cache_control = part.cache_control;
  }
  return block;
}

function textBlocks(content: unknown, param: string, allowed: ReadonlySet<string>, keepBlank = false): Block[] {
  if (content === undefined || content === null) return [];
  const kept = (text: string) => (keepBlank ? text.length > 0 : text.trim().length > 0);
  if (typeof content === 'string') return kept(content) ? [{ type: 'text', text: content }] : [];
  if (!Array.isArray(content)) throw new UnsupportedFieldError(param, `${param} must be a string or an array of content parts.`);
  const out: Block[] = [];
  content.forEach((part, j) => {
    const type = part?.type;
    if (!allowed.has(type)) throw new UnsupportedFieldError(`${param}[${j}].type`, `Content part type "${type}" is not supported here by the anthropic upstream.`);
    const text = type === 'refusal' ? part.refusal : part.text;
    if (typeof text === 'string' && kept(text)) out.push(withCacheControl({ type: 'text', text }, part, `${param}[${j}]`));
  });
  return out;
}

const TEXT_ONLY = new Set(['text']);
/** The user turn put before a conversation that opens with the assistant (as LiteLLM does). */
const OPENING_PLACEHOLDER = '.';
const ASSISTANT_PARTS = new Set(['text', 'refusal']);

function userBlocks(content: unknown, param: string): Block[] {
  if (!Array.isArray(content)) return textBlocks(content, param, TEXT_ONLY, true);
  const out: Block[] = [];
  content.forEach((part, j) => {
    const p = `${param}[${j}]`;
    switch (part?.type) {
      case 'text':
        if (typeof part.text === 'string' && part.text) out.push(withCacheControl({ type: 'text', text: part.text }, part, p));
        break;
      case 'image_url': {
        const url = typeof part.image_url === 'string' ? part.image_url : part.image_url?.url;
        out.push(withCacheControl({ type: 'image', source: convertImageUrlToAnthropicSource(url, `${p}.image_url.url`) }, part, p));
        break;
      }
      case 'file': {
        // OpenAI file parts carry a base64 data URI in file.file_data; Anthropic takes
        // PDFs and plain text as `document` blocks. Uploaded file ids cannot be resolved.
        const d = typeof part.file?.file_data === 'string' ? parseDataUri(part.file.file_data) : null;
        if (!d || (d.mediaType !== 'application/pdf' && d.mediaType !== 'text/plain')) {
          throw new UnsupportedFieldError(`${p}.file`, 'The anthropic upstream accepts file parts only as base64 data URIs of application/pdf or text/plain.');
        }
        const source = d.mediaType === 'text/plain'
          ? { type: 'text', media_type: 'text/plain', data: Buffer.from(d.data, 'base64').toString('utf8') }
          : { type: 'base64', media_type: d.mediaType, data: d.data };
        out.push(withCacheControl({ type: 'document', source }, part, p));
        break;
      }
      default:
        throw new UnsupportedFieldError(`${p}.type`, `Content part type "${part?.type}" is not supported by the anthropic upstream.`);
    }
  });
  return out;
}


function assistantBlocks(m: any, param: string): Block[] {
  if (m.audio) throw new UnsupportedFieldError(`${param}.audio`, 'Assistant audio is not supported by the anthropic upstream.');
  if (m.function_call) throw new UnsupportedFieldError(`${param}.function_call`, 'The legacy function_call field is not supported; use tool_calls.');
  const out: Block[] = [];
  const calls: any[] = Array.isArray(m.tool_calls) ? m.tool_calls : [];
  const reasoning = typeof m.reasoning_content === 'string' ? m.reasoning_content : undefined;
  let offset = 0;
  // The reasoning blocks each call's id carries go back just before its tool_use, each
  // thinking block with its own slice of reasoning_content (anthropic-tool-call-id.ts).
  const reasoningBlocks = (blocks: ReasoningBlock[]) => {
    for (const rb of blocks) {
      if (rb.type === 'redacted_thinking') {
        out.push({ type: 'redacted_thinking', data: rb.data });
        continue;
      }
      if (reasoning === undefined) continue;
      const end = rb.length === undefined ? reasoning.length : offset + rb.length;
      const thinking = reasoning.slice(offset, end);
      offset = end;
      if (thinking || rb.length === 0) out.push({ type: 'thinking', thinking, signature: rb.signature });
    }
  };
  const decoded = calls.map((c) => decodeToolCallId(String(c?.id ?? '')));
  if (decoded[0]) reasoningBlocks(decoded[0].blocks);
  out.push(...textBlocks(m.content, `${param}.content`, ASSISTANT_PARTS));
  calls.forEach((c, j) => {
    const p = `${param}.tool_calls[${j}]`;
    if (c?.type !== undefined && c.type !== 'function') throw new UnsupportedFieldError(`${p}.type`, `Tool call type "${c.type}" is not supported by the anthropic upstream.`);
    if (j > 0) reasoningBlocks(decoded[j]!.blocks);
    out.push({
      type: 'tool_use',
      id: decoded[j]!.toolUseId,
      name: String(c?.function?.name ?? ''),
      input: parseToolArguments(c?.function?.arguments, `${p}.function.arguments`, 'anthropic'),
    });
  });
  return out;
}

function toolResultBlock(m: any, param: string): Block {
  const block: Block = { type: 'tool_result', tool_use_id: decodeToolCallId(String(m.tool_call_id ?? '')).toolUseId };
  if (typeof m.content === 'string') {
    if (m.content.trim()) block.content = m.content;
  } else {
    const blocks = textBlocks(m.content, `${param}.content`, TEXT_ONLY);
    if (blocks.length) block.content = blocks;
  }
  return block;
}

export function convertToAnthropicMessages(messages: unknown): AnthropicPrompt {
  if (!Array.isArray(messages)) throw new UnsupportedFieldError('messages', 'messages must be an array.');
  const system: Block[] = [];
  const out: AnthropicMessage[] = [];
  const issued = new Set<string>();
  const append = (role: 'user' | 'assistant', blocks: Block[]) => {
    if (!blocks.length) return;
    const last = out[out.length - 1];
    if (last && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  /** The last message that is not a system one, when it is a user message with no content. */
  let emptyLast: string | null = null;
  messages.forEach((m: any, i) => {
    const param = `messages[${i}]`;
    if (m?.role !== 'system' && m?.role !== 'developer') emptyLast = null;
    switch (m?.role) {
      case 'system':
      case 'developer':
        system.push(...textBlocks(m.content, `${param}.content`, TEXT_ONLY));
        break;
      case 'user': {
        const blocks = userBlocks(m.content, `${param}.content`);
        if (!blocks.length) emptyLast = `${param}.content`;
        append('user', blocks);
        break;
      }
      case 'assistant': {
        const blocks = assistantBlocks(m, param);
        for (const b of blocks) if (b.type === 'tool_use') issued.add(b.id);
        append('assistant', blocks);
        break;
      }
      case 'tool': {
        // Anthropic answers 400 to a tool_result whose id no tool_use carries, as OpenAI
        // does; saying which message it is saves the client a paid round trip.
        const block = toolResultBlock(m, param);
        if (!issued.has(block.tool_use_id)) {
          throw new UnsupportedFieldError(`${param}.tool_call_id`, `tool_call_id "${String(m.tool_call_id)}" answers no tool call of an earlier assistant message; the anthropic upstream refuses such tool results.`);
        }
        append('user', [block]);
        break;
      }
      default:
        throw new UnsupportedFieldError(`${param}.role`, `Message role "${m?.role}" is not supported by the anthropic upstream.`);
    }
  });
  // Anthropic takes no empty text: an empty last user message is dropped, and the turn
  // before it (the assistant's) would be read as the start of the answer, to be continued.
  if (emptyLast !== null && out.at(-1)?.role !== 'user' && !(out.length === 0 && system.length)) {
    throw new UnsupportedFieldError(emptyLast, 'The last message is empty. The anthropic upstream takes no empty message, and would read the assistant turn before it as the start of its answer; send some text.');
  }
  for (const m of out) {
    if (m.role === 'user' && m.content.some((b) => b.type === 'tool_result')) {
      m.content = [...m.content.filter((b) => b.type === 'tool_result'), ...m.content.filter((b) => b.type !== 'tool_result')];
    }
  }
  // Only system/developer messages: OpenAI answers them, Anthropic needs a message; they
  // are the prompt, so they become the user turn.
  if (!out.length && system.length) return { system: undefined, messages: [{ role: 'user', content: system }] };
  // Anthropic wants the user first ("first message must use the user role"); OpenAI
  // takes a conversation that opens with the assistant's greeting, as chat widgets send.
  if (out[0]?.role === 'assistant') out.unshift({ role: 'user', content: [{ type: 'text', text: OPENING_PLACEHOLDER }] });
  const prefill = out.at(-1);
  const tail = prefill?.role === 'assistant' ? prefill.content.at(-1) : undefined;
  if (tail?.type === 'text') tail.text = tail.text.trimEnd();
  return { system: system.length ? system : undefined, messages: out };
}

/**
 * Whether thinking may be on for this request. A tool loop is one assistant turn, and
 * Anthropic keeps it in one thinking mode: with thinking on, the assistant message whose
 * tool calls the last user message answers must open with its thinking block, or the
 * request is a 400. OpenAI clients rarely send `reasoning_content` back (the openai SDK's
 * runTools() and the Vercel AI SDK's tool loops do not), and without it the thinking
 * blocks cannot be rebuilt; such a request goes up with thinking off, as Anthropic's
 * own error advises, so that the loop goes on.
 */
export function thinkingAllowed(messages: readonly AnthropicMessage[]): boolean {
  const last = messages.at(-1);
  if (messages.length < 2 || last?.role !== 'user' || !last.content.some((b) => b.type === 'tool_result')) return true;
  const first = messages[messages.length - 2]!.content[0]?.type;
  return first === 'thinking' || first === 'redacted_thinking';
}
