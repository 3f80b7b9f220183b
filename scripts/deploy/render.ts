/**
 * Renders ecs-taskdef-unified.json into a RegisterTaskDefinition request: `${NAME}` and
 * `${NAME:-default}` placeholders are filled from the given variables; an environment entry whose
 * value renders empty is dropped (the service treats unset and empty alike). Pure: no I/O.
 */
import type { RegisterTaskDefinitionCommandInput } from '@aws-sdk/client-ecs';
import { readFileSync } from 'node:fs';
import { DeployError } from './environments.js';

const PLACEHOLDER = /\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g;

export type TaskDefinitionInput = RegisterTaskDefinitionCommandInput;

export interface RenderResult {
  taskDefinition: TaskDefinitionInput;
  /** Placeholders without a value and without a default. */
  missing: string[];
}

/** Every placeholder name used in a text (with or without default). */
export function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1] as string))].sort();
}

export function renderTemplate(template: string, vars: Readonly<Record<string, string | undefined>>): { text: string; missing: string[] } {
  const missing = new Set<string>();
  const text = template.replace(PLACEHOLDER, (whole, name: string, fallback: string | undefined) => {
    const v = vars[name];
    if (v !== undefined && v !== '') return jsonEscape(v);
    if (fallback !== undefined) return jsonEscape(fallback);
    missing.add(name);
    return whole;
  });
  return { text, missing: [...missing].sort() };
}

/** Values are substituted inside JSON strings: escape them as JSON string content. */
function jsonEscape(v: string): string {
  return JSON.stringify(v).slice(1, -1);
}

export function renderTaskDefinition(template: string, vars: Readonly<Record<string, string | undefined>>, family?: string): RenderResult {
  const { text, missing } = renderTemplate(template, vars);
  const parsed = JSON.parse(text) as TaskDefinitionInput;
  const containerDefinitions = (parsed.containerDefinitions ?? []).map((c) => ({
    ...c,
    environment: c.environment?.filter((kv) => kv.value !== undefined && kv.value !== ''),
  }));
  return { taskDefinition: { ...parsed, ...(family ? { family } : {}), containerDefinitions }, missing };
}

export function readTemplate(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new DeployError(`cannot read task definition template ${path}: ${(err as Error).message}`);
  }
}
