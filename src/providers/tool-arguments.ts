import { UnsupportedFieldError } from './unsupported.ts';

/**
 * OpenAI sends tool-call arguments as a JSON string; Anthropic and Gemini want the
 * object itself. Anything that is not a JSON object is a 400 naming the field.
 */
export function parseToolArguments(args: unknown, param: string, upstream: string): Record<string, unknown> {
  if (args === undefined || args === null || args === '') return {};
  let v: unknown = args;
  if (typeof args === 'string') {
    try {
      v = JSON.parse(args);
    } catch {
      throw new UnsupportedFieldError(param, `${param} is not valid JSON; the ${upstream} upstream needs tool arguments as JSON objects.`);
    }
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UnsupportedFieldError(param, `${param} must be a JSON object for the ${upstream} upstream.`);
  return v as Record<string, unknown>;
}
