// Gemini 3 changed two behaviours the adapter depends on: thinking is set by
// `thinkingLevel` instead of `thinkingBudget`, and function-call thought signatures are
// validated. Model names are "gemini-<major>...", optionally prefixed with "models/".
// Gemma and LearnLM models, and the dated gemini-exp-* releases, came before Gemini 3 and
// take thinkingBudget; a name without a version (an alias such as gemini-flash-latest)
// is taken to be current.

export function isGemini3OrLater(model: string): boolean {
  const name = model.slice(model.lastIndexOf('/') + 1);
  const major = /^gemini-(\d+)(\.|-|$)/.exec(name)?.[1];
  if (major !== undefined) return Number(major) >= 3;
  return !/^(gemma-|learnlm-|gemini-exp-)/.test(name);
}
