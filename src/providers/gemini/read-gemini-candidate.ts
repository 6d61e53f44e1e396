import { newToolCallId } from './gemini-tool-call-id.ts';

// The parts of one Gemini candidate (a whole response or one stream chunk), sorted into
// what OpenAI messages/deltas carry: text, thought text (includeThoughts), function calls.
// Thought signatures on text parts are not carried (Gemini only requires the ones on
// functionCall parts); executableCode, inlineData output etc. have no OpenAI counterpart.

export interface GeminiToolCall {
  id: string;
  name: string;
  arguments: string;
  signature: string | undefined;
}

export interface CandidateParts {
  text: string;
  reasoning: string;
  toolCalls: GeminiToolCall[];
}

export function readCandidateParts(candidate: any): CandidateParts {
  const out: CandidateParts = { text: '', reasoning: '', toolCalls: [] };
  const parts: any[] = Array.isArray(candidate?.content?.parts) ? candidate.content.parts : [];
  for (const p of parts) {
    if (p?.functionCall) {
      const signature = typeof p.thoughtSignature === 'string' && p.thoughtSignature ? p.thoughtSignature : undefined;
      out.toolCalls.push({ id: newToolCallId(signature, p.functionCall.id), name: String(p.functionCall.name ?? ''), arguments: JSON.stringify(p.functionCall.args ?? {}), signature });
    } else if (typeof p?.text === 'string') {
      if (p.thought === true) out.reasoning += p.text;
      else out.text += p.text;
    }
  }
  return out;
}

/** The OpenAI tool call; Google's compat field carries the signature as well. */
export function toOpenAIToolCall(c: GeminiToolCall): Record<string, any> {
  const call: Record<string, any> = { id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } };
  if (c.signature) call.extra_content = { google: { thought_signature: c.signature } };
  return call;
}
