// Gemini 3 changed two behaviours the adapter depends on: thinking is set by
// `thinkingLevel` instead of `thinkingBudget`, and function-call thought signatures are
// validated. Model names are "gemini-<major>...", optionally prefixed with "models/".

export function isGemini3OrLater(model: string): boolean {
  return !/(^|\/)gemini-(1|2)(\.|-)/.test(model);
}
