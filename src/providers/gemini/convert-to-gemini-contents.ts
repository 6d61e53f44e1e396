import { UnsupportedFieldError } from '../unsupported.ts';
import { parseToolArguments } from '../tool-arguments.ts';
import { guessMimeType } from './guess-mime-type.ts';
import { isGemini3OrLater } from './gemini-model-generation.ts';
import { geminiCallId, SKIP_SIGNATURE, signatureFromToolCall } from './gemini-tool-call-id.ts';

// OpenAI `messages` → Gemini `systemInstruction` + `contents`.
// - system and developer messages → systemInstruction parts, in order.
// - user → role 'user'; assistant → role 'model'; consecutive same-role turns merge.
// - assistant tool_calls → functionCall parts (thoughtSignature restored from the id);
//   tool messages → functionResponse parts in a user turn. Gemini pairs responses with
//   calls by function *name*, so the name is looked up from the tool_call_id among the
//   conversation's earlier tool calls. Both carry the call's id as well (without the
//   signature), as Gemini 3 asks: it pairs parallel calls of one function by id.
// - image_url: data URI → inlineData; URL → fileData {fileUri, mimeType (guessed)}.
// https://ai.google.dev/api/generate-content

type Part = Record<string, any>;
export interface GeminiContent {
  role: 'user' | 'model';
  parts: Part[];
}
export interface GeminiPrompt {
  systemInstruction: { parts: Part[] } | undefined;
  contents: GeminiContent[];
}

function parseDataUri(url: string): { mimeType: string; data: string } | null {
  const m = /^data:([^;,]+)((?:;[^;,]+)*);base64,(.*)$/s.exec(url);
  if (!m) return null;
  // Gemini refuses the common misspelling ("Unsupported MIME type: image/jpg").
  const mimeType = m[1]!.toLowerCase();
  return { mimeType: mimeType === 'image/jpg' ? 'image/jpeg' : mimeType, data: m[3]! };
}

function textParts(content: unknown, param: string, allowRefusal = false): Part[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content ? [{ text: content }] : [];
  if (!Array.isArray(content)) throw new UnsupportedFieldError(param, `${param} must be a string or an array of content parts.`);
  const out: Part[] = [];
  content.forEach((part, j) => {
    if (part?.type === 'text' && typeof part.text === 'string') {
      if (part.text) out.push({ text: part.text });
    } else if (allowRefusal && part?.type === 'refusal' && typeof part.refusal === 'string') {
      if (part.refusal) out.push({ text: part.refusal });
    } else {
      throw new UnsupportedFieldError(`${param}[${j}].type`, `Content part type "${part?.type}" is not supported here by the gemini upstream.`);
    }
  });
  return out;
}

function mediaPart(url: unknown, param: string, fallbackMime: string): Part {
  if (typeof url !== 'string' || !url) throw new UnsupportedFieldError(param, `${param} must be a URL or a base64 data URI.`);
  if (url.startsWith('data:')) {
    const d = parseDataUri(url);
    if (!d) throw new UnsupportedFieldError(param, `${param}: only base64 data URIs are supported.`);
    return { inlineData: { mimeType: d.mimeType, data: d.data } };
  }
  if (/^(https?|gs):\/\//i.test(url)) return { fileData: { mimeType: guessMimeType(url, fallbackMime), fileUri: url } };
  throw new UnsupportedFieldError(param, `${param} must be an http(s) or gs:// URL or a base64 data URI.`);
}

const AUDIO_MIME: Record<string, string> = { wav: 'audio/wav', mp3: 'audio/mp3', flac: 'audio/flac', ogg: 'audio/ogg', aac: 'audio/aac' };

function userParts(content: unknown, param: string): Part[] {
  if (!Array.isArray(content)) return textParts(content, param);
  const out: Part[] = [];
  content.forEach((part, j) => {
    const p = `${param}[${j}]`;
    switch (part?.type) {
      case 'text':
        if (typeof part.text === 'string' && part.text) out.push({ text: part.text });
        break;
      case 'image_url':
        out.push(mediaPart(typeof part.image_url === 'string' ? part.image_url : part.image_url?.url, `${p}.image_url.url`, 'image/jpeg'));
        break;
      case 'input_audio': {
        const mime = AUDIO_MIME[String(part.input_audio?.format)];
        if (!mime || typeof part.input_audio?.data !== 'string') throw new UnsupportedFieldError(`${p}.input_audio`, 'input_audio needs base64 data and a format of wav, mp3, flac, ogg or aac.');
        out.push({ inlineData: { mimeType: mime, data: part.input_audio.data } });
        break;
      }
      case 'file': {
        const data = part.file?.file_data;
        if (typeof data !== 'string' || !data.startsWith('data:')) throw new UnsupportedFieldError(`${p}.file`, 'The gemini upstream accepts file parts only as base64 data URIs (file_data).');
        out.push(mediaPart(data, `${p}.file.file_data`, 'application/pdf'));
        break;
      }
      default:
        throw new UnsupportedFieldError(`${p}.type`, `Content part type "${part?.type}" is not supported by the gemini upstream.`);
    }
  });
  return out;
}


/** Gemini wants an object (Struct) as the function response. */
function functionResponseValue(content: unknown, param: string): Record<string, unknown> {
  let text: string;
  if (typeof content === 'string') text = content;
  else text = textParts(content, param).map((p) => p.text).join('');
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
    return { output: v };
  } catch {
    return { output: text };
  }
}

// Gemini 3 validates thought signatures on function calls; when history lacks one (it
// was produced by another model, or a client dropped it), Google documents a placeholder
// for the first functionCall of the step. Older models do not validate signatures.
const needsSignaturePlaceholder = isGemini3OrLater;

const isGemma = (model: string) => /(^|\/)gemma-/.test(model);

export function convertToGeminiContents(messages: unknown, model: string): GeminiPrompt {
  if (!Array.isArray(messages)) throw new UnsupportedFieldError('messages', 'messages must be an array.');
  const system: Part[] = [];
  const contents: GeminiContent[] = [];
  const namesById = new Map<string, string>();
  const append = (role: 'user' | 'model', parts: Part[]) => {
    if (!parts.length) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  /** The last message that is not a system one, when it is a user message with no content. */
  let emptyLast: string | null = null;
  messages.forEach((m: any, i) => {
    const param = `messages[${i}]`;
    if (m?.role !== 'system' && m?.role !== 'developer') emptyLast = null;
    switch (m?.role) {
      case 'system':
      case 'developer':
        system.push(...textParts(m.content, `${param}.content`));
        break;
      case 'user': {
        const parts = userParts(m.content, `${param}.content`);
        if (!parts.length) emptyLast = `${param}.content`;
        append('user', parts);
        break;
      }
      case 'assistant': {
        if (m.audio) throw new UnsupportedFieldError(`${param}.audio`, 'Assistant audio is not supported by the gemini upstream.');
        if (m.function_call) throw new UnsupportedFieldError(`${param}.function_call`, 'The legacy function_call field is not supported; use tool_calls.');
        const parts = textParts(m.content, `${param}.content`, true);
        const calls: any[] = Array.isArray(m.tool_calls) ? m.tool_calls : [];
        calls.forEach((c, j) => {
          const p = `${param}.tool_calls[${j}]`;
          if (c?.type !== undefined && c.type !== 'function') throw new UnsupportedFieldError(`${p}.type`, `Tool call type "${c.type}" is not supported by the gemini upstream.`);
          const name = String(c?.function?.name ?? '');
          if (typeof c?.id === 'string') namesById.set(c.id, name);
          const part: Part = { functionCall: { ...(typeof c?.id === 'string' && c.id ? { id: geminiCallId(c.id) } : {}), name, args: parseToolArguments(c?.function?.arguments, `${p}.function.arguments`, 'gemini') } };
          const sig = signatureFromToolCall(c) ?? (j === 0 && needsSignaturePlaceholder(model) ? SKIP_SIGNATURE : undefined);
          if (sig) part.thoughtSignature = sig;
          parts.push(part);
        });
        append('model', parts);
        break;
      }
      case 'tool': {
        const callName = namesById.get(String(m.tool_call_id));
        const name = callName ?? (typeof m.name === 'string' ? m.name : undefined);
        if (!name) {
          throw new UnsupportedFieldError(`${param}.tool_call_id`, `tool_call_id "${m.tool_call_id}" matches no earlier assistant tool call; Gemini pairs function responses by name.`);
        }
        // An id only where the call went up with it: an id that names no call is not sent.
        const id = callName !== undefined && m.tool_call_id ? { id: geminiCallId(String(m.tool_call_id)) } : {};
        append('user', [{ functionResponse: { ...id, name, response: functionResponseValue(m.content, `${param}.content`) } }]);
        break;
      }
      default:
        throw new UnsupportedFieldError(`${param}.role`, `Message role "${m?.role}" is not supported by the gemini upstream.`);
    }
  });
  // Gemini takes no empty part: an empty last user message is dropped, and the
  // conversation would end on the model's turn (or have no turn at all).
  if (emptyLast !== null && contents.at(-1)?.role !== 'user' && !(contents.length === 0 && system.length)) {
    throw new UnsupportedFieldError(emptyLast, 'The last message is empty. The gemini upstream takes no empty message, and the conversation would end on the model\'s turn; send some text.');
  }
  // Only system/developer messages: OpenAI answers them, Gemini needs contents; they are
  // the prompt, so they become the user turn. Gemma models refuse systemInstruction
  // ("Developer instruction is not enabled"): theirs opens the first user turn instead.
  if (system.length && (!contents.length || isGemma(model))) {
    if (contents[0]?.role === 'user') contents[0].parts.unshift(...system);
    else contents.unshift({ role: 'user', parts: system });
    return { systemInstruction: undefined, contents };
  }
  return { systemInstruction: system.length ? { parts: system } : undefined, contents };
}
