/** Every task kind, listed explicitly (DESIGN habit 5). */
import dependencyHealth from './dependencyHealth.js';
import documentAnalysis from './documentAnalysis.js';
import listenerExpiry from './listenerExpiry.js';
import llmConversation from './llmConversation.js';
import registryCleanup from './registryCleanup.js';
import type { AnyTaskKind } from './types.js';
import vectorComputation from './vectorComputation.js';

export const TASK_KINDS: readonly AnyTaskKind[] = [
  documentAnalysis,
  vectorComputation,
  llmConversation,
  registryCleanup,
  dependencyHealth,
  listenerExpiry,
];

export const taskKinds = new Map<string, AnyTaskKind>(TASK_KINDS.map((k) => [k.name, k]));
export { documentAnalysis, vectorComputation, llmConversation, registryCleanup, dependencyHealth, listenerExpiry };
