// Anthropic `stop_reason` → OpenAI `finish_reason`.
// https://docs.anthropic.com/en/api/messages (stop_reason)

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export function mapAnthropicStopReason(reason: unknown, opts: { answeredWithJsonTool?: boolean } = {}): FinishReason {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      // The forced JSON-answer tool (see convert-to-anthropic-tools.ts) is the answer,
      // not a call the client should run.
      return opts.answeredWithJsonTool ? 'stop' : 'tool_calls';
    case 'refusal':
      return 'content_filter';
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
    default:
      return 'stop';
  }
}
