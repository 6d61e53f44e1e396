import { UnsupportedFieldError } from '../unsupported.ts';

// OpenAI `tools` / `tool_choice` / `parallel_tool_calls` / `response_format` → Anthropic
// `tools` / `tool_choice`. https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use
//
// response_format: the basic Messages API has no JSON mode, so json_object and
// json_schema are implemented the way Anthropic's docs suggest ("JSON mode" via tools):
// one extra tool, JSON_TOOL_NAME, whose input_schema is the requested schema, forced with
// tool_choice {type:'tool'}. The model's tool input *is* the answer; the response and
// stream converters turn that tool_use back into message `content` with finish_reason
// 'stop'. Limits, each reported as UnsupportedFieldError rather than worked around:
// together with client tools (forcing our tool would stop the model from calling them),
// with reasoning_effort (Anthropic forbids forced tool use while thinking), and with a
// json_schema whose root is not an object (tool inputs are objects).

export const JSON_TOOL_NAME = 'tollgate_json_response';

/**
 * Sent when a request carries earlier tool calls but defines no tools: Anthropic refuses
 * `tool_use` and `tool_result` blocks in a request without tools, while OpenAI takes such
 * a history (a coding tool's summary of a session, a final answer after the tool loop).
 * With tool_choice "none" the model cannot call it, as an OpenAI request without tools
 * cannot call any.
 */
export const HISTORY_TOOL_NAME = 'tollgate_no_tools_now';

export interface AnthropicTools {
  tools?: Record<string, any>[];
  tool_choice?: Record<string, any>;
}

function convertTool(t: any, i: number): Record<string, any> {
  if (t?.type !== 'function' || !t.function || typeof t.function.name !== 'string') {
    throw new UnsupportedFieldError(`tools[${i}].type`, `Tool type "${t?.type}" is not supported by the anthropic upstream; only function tools are.`);
  }
  if (t.function.name === JSON_TOOL_NAME) throw new UnsupportedFieldError(`tools[${i}].function.name`, `The tool name ${JSON_TOOL_NAME} is reserved by the gateway.`);
  const tool: Record<string, any> = { name: t.function.name };
  if (typeof t.function.description === 'string') tool.description = t.function.description;
  // `strict` has no Anthropic counterpart in the basic API; the schema is still sent.
  // OpenAI takes a schema without `type` (`{}` for no arguments); Anthropic requires
  // type "object" ("input_schema.type: Field required").
  const params = t.function.parameters;
  tool.input_schema = params && typeof params === 'object' ? (params.type === undefined ? { type: 'object', ...params } : params) : { type: 'object', properties: {} };
  return tool;
}

function convertToolChoice(choice: unknown, names: Set<string>, parallel: unknown): Record<string, any> | undefined {
  const disableParallel = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined || choice === null || choice === 'auto') {
    return parallel === false ? { type: 'auto', ...disableParallel } : undefined;
  }
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...disableParallel };
  const name = (choice as any)?.function?.name;
  if ((choice as any)?.type === 'function' && typeof name === 'string') {
    if (!names.has(name)) throw new UnsupportedFieldError('tool_choice', `tool_choice names "${name}", which is not among the request's tools.`);
    return { type: 'tool', name, ...disableParallel };
  }
  throw new UnsupportedFieldError('tool_choice', `tool_choice ${JSON.stringify(choice)} is not supported by the anthropic upstream.`);
}

function jsonTool(format: any): Record<string, any> | null {
  switch (format?.type) {
    case undefined:
    case 'text':
      return null;
    case 'json_object':
      return {
        name: JSON_TOOL_NAME,
        description: 'Give your complete answer as a JSON object: the input of this tool is the response.',
        input_schema: { type: 'object', additionalProperties: true },
      };
    case 'json_schema': {
      const schema = format.json_schema?.schema;
      const isObject = schema && typeof schema === 'object' && (schema.type === 'object' || (schema.type === undefined && schema.properties));
      if (!isObject) {
        throw new UnsupportedFieldError('response_format', 'The anthropic upstream supports json_schema only with an object at the root of the schema.');
      }
      const desc = typeof format.json_schema?.description === 'string' ? ` ${format.json_schema.description}` : '';
      return {
        name: JSON_TOOL_NAME,
        description: `Give your complete answer through this tool: its input is the response, and must match the schema.${desc}`,
        // An object by its properties alone, as OpenAI takes it; Anthropic requires the type.
        input_schema: schema.type === undefined ? { type: 'object', ...schema } : schema,
      };
    }
    default:
      throw new UnsupportedFieldError('response_format', `response_format type "${format?.type}" is not supported by the anthropic upstream.`);
  }
}

function holdsToolBlocks(messages: readonly Record<string, any>[]): boolean {
  return messages.some((m) => Array.isArray(m.content) && m.content.some((b: any) => b?.type === 'tool_use' || b?.type === 'tool_result'));
}

/** `messages`: the converted Anthropic messages, for their tool calls (HISTORY_TOOL_NAME). */
export function convertToAnthropicTools(body: Record<string, any>, opts: { thinking: boolean; messages: readonly Record<string, any>[] }): AnthropicTools {
  const clientTools: any[] = Array.isArray(body.tools) ? body.tools : [];
  if (body.tools !== undefined && body.tools !== null && !Array.isArray(body.tools)) throw new UnsupportedFieldError('tools', 'tools must be an array.');
  const tools = clientTools.map(convertTool);
  const forced = jsonTool(body.response_format);
  if (forced) {
    if (tools.length) throw new UnsupportedFieldError('response_format', 'The anthropic upstream cannot combine response_format json_object/json_schema with tools.');
    if (opts.thinking) throw new UnsupportedFieldError('response_format', 'The anthropic upstream cannot combine response_format json_object/json_schema with reasoning_effort.');
    return { tools: [forced], tool_choice: { type: 'tool', name: JSON_TOOL_NAME } };
  }
  if (!tools.length) {
    const c = body.tool_choice;
    if (c !== undefined && c !== null && c !== 'none' && c !== 'auto') throw new UnsupportedFieldError('tool_choice', 'tool_choice requires tools.');
    if (!holdsToolBlocks(opts.messages)) return {};
    return {
      tools: [{ name: HISTORY_TOOL_NAME, description: 'Stands in for the tools called earlier in this conversation. None can be called now.', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'none' },
    };
  }
  const choice = convertToolChoice(body.tool_choice, new Set(tools.map((t) => t.name)), body.parallel_tool_calls);
  if (opts.thinking && (choice?.type === 'any' || choice?.type === 'tool')) {
    throw new UnsupportedFieldError('tool_choice', 'The anthropic upstream cannot force a tool (tool_choice "required" or a named function) with reasoning_effort; use "auto" or "none".');
  }
  return choice ? { tools, tool_choice: choice } : { tools };
}
