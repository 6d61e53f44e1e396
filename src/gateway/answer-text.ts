import { fromByteString } from '../protocol/byte-strings.ts';

// The text of an answer the upstream generated, for billing an answer that came without
// a usage report by counting it (Exchange.estimatedUsage). A stream's deltas and a
// non-streaming answer's messages have the same fields, so both are read here and an
// answer costs the same estimate either way.

/** The generated text of a message or a delta: content, reasoning, refusal, tool calls. */
export function messageText(m: any): string {
  if (!m || typeof m !== 'object') return '';
  let text = '';
  if (typeof m.content === 'string') text += m.content;
  else if (Array.isArray(m.content)) for (const p of m.content) if (typeof p?.text === 'string') text += p.text;
  // DeepSeek's field; OpenRouter, Ollama and newer vLLM say `reasoning` (an upstream
  // that sends both sends the same text: counted once).
  if (typeof m.reasoning_content === 'string') text += m.reasoning_content;
  else if (typeof m.reasoning === 'string') text += m.reasoning;
  if (typeof m.refusal === 'string') text += m.refusal;
  if (Array.isArray(m.tool_calls)) {
    for (const t of m.tool_calls) {
      if (typeof t?.function?.name === 'string') text += t.function.name;
      if (typeof t?.function?.arguments === 'string') text += t.function.arguments;
    }
  }
  return text;
}

/**
 * The generated text of every choice of a chat.completion. With `bytes`, the body's
 * strings are byte strings (protocol/byte-strings.ts), decoded here to be counted.
 */
export function chatAnswerText(body: Record<string, any>, bytes: boolean): string {
  let text = '';
  for (const c of Array.isArray(body.choices) ? body.choices : []) text += messageText(c?.message);
  return bytes ? fromByteString(text) : text;
}
