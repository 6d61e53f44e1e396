import { UnsupportedFieldError } from '../unsupported.ts';

// OpenAI `tools` / `tool_choice` → Gemini `tools[].functionDeclarations` / `toolConfig`.
// Parameters go in `parametersJsonSchema` (full JSON Schema), not `parameters` (an
// OpenAPI subset that rejects e.g. additionalProperties), so client schemas pass as is.
// https://ai.google.dev/gemini-api/docs/function-calling

export interface GeminiTools {
  tools?: Record<string, any>[];
  toolConfig?: Record<string, any>;
}

export function convertToGeminiTools(body: Record<string, any>): GeminiTools {
  if (body.tools !== undefined && body.tools !== null && !Array.isArray(body.tools)) throw new UnsupportedFieldError('tools', 'tools must be an array.');
  const declarations = (body.tools ?? []).map((t: any, i: number) => {
    if (t?.type !== 'function' || !t.function || typeof t.function.name !== 'string') {
      throw new UnsupportedFieldError(`tools[${i}].type`, `Tool type "${t?.type}" is not supported by the gemini upstream; only function tools are.`);
    }
    const d: Record<string, any> = { name: t.function.name };
    if (typeof t.function.description === 'string') d.description = t.function.description;
    if (t.function.parameters && typeof t.function.parameters === 'object') d.parametersJsonSchema = t.function.parameters;
    return d;
  });
  const choice = body.tool_choice;
  if (!declarations.length) {
    if (choice !== undefined && choice !== null && choice !== 'none' && choice !== 'auto') throw new UnsupportedFieldError('tool_choice', 'tool_choice requires tools.');
    return {};
  }
  const tools = [{ functionDeclarations: declarations }];
  if (choice === undefined || choice === null || choice === 'auto') return { tools };
  if (choice === 'none') return { tools, toolConfig: { functionCallingConfig: { mode: 'NONE' } } };
  if (choice === 'required') return { tools, toolConfig: { functionCallingConfig: { mode: 'ANY' } } };
  const name = choice?.function?.name;
  if (choice?.type === 'function' && typeof name === 'string') {
    if (!declarations.some((d: any) => d.name === name)) throw new UnsupportedFieldError('tool_choice', `tool_choice names "${name}", which is not among the request's tools.`);
    return { tools, toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [name] } } };
  }
  throw new UnsupportedFieldError('tool_choice', `tool_choice ${JSON.stringify(choice)} is not supported by the gemini upstream.`);
}
