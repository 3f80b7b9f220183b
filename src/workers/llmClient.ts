/**
 * One call to an OpenAI-compatible `POST {baseUrl}/chat/completions`. Failures are classified for
 * the retry policy: not configured → LLM_NOT_CONFIGURED; 429, 5xx, network errors and timeouts →
 * LLM_UNAVAILABLE (retryable); other 4xx → LLM_REJECTED; a 2xx without a reply → LLM_BAD_RESPONSE.
 * Nothing is ever made up: no endpoint, no reply.
 */
import type { LlmSettings } from '../config/schema.js';
import { TaskError } from './errors.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatResult {
  reply: string;
  model: string;
  usage: Record<string, unknown> | null;
  finish_reason: string | null;
}

export async function chatCompletion(o: {
  settings: LlmSettings;
  messages: ChatMessage[];
  model: string | null;
  temperature: number;
  signal: AbortSignal;
}): Promise<ChatResult> {
  const { settings } = o;
  if (!settings.baseUrl) throw new TaskError('LLM_NOT_CONFIGURED', 'no LLM endpoint is configured (LLM_BASE_URL); the conversation was not sent', false);
  const model = o.model ?? settings.model;
  const url = `${settings.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (settings.apiKey) headers.authorization = `Bearer ${settings.apiKey}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model, messages: o.messages, temperature: o.temperature }),
      signal: AbortSignal.any([o.signal, AbortSignal.timeout(settings.timeoutMs)]),
    });
  } catch (err) {
    if (o.signal.aborted) throw o.signal.reason;
    const e = err as Error;
    const what = e.name === 'TimeoutError' ? `no answer within ${settings.timeoutMs} ms` : (e.cause as Error | undefined)?.message ?? e.message;
    throw new TaskError('LLM_UNAVAILABLE', `LLM endpoint unreachable: ${what}`, true);
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) {
    const detail = errorDetail(text);
    const retryable = res.status === 429 || res.status === 408 || res.status >= 500;
    throw new TaskError(retryable ? 'LLM_UNAVAILABLE' : 'LLM_REJECTED', `LLM endpoint answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`, retryable, { status: res.status });
  }
  let body: { model?: unknown; usage?: unknown; choices?: Array<{ message?: { content?: unknown }; finish_reason?: unknown }> };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new TaskError('LLM_BAD_RESPONSE', 'LLM endpoint answered with something that is not JSON', false);
  }
  const choice = body.choices?.[0];
  const reply = choice?.message?.content;
  if (typeof reply !== 'string') throw new TaskError('LLM_BAD_RESPONSE', 'LLM response has no choices[0].message.content', false);
  return {
    reply,
    model: typeof body.model === 'string' ? body.model : model,
    usage: body.usage && typeof body.usage === 'object' ? (body.usage as Record<string, unknown>) : null,
    finish_reason: typeof choice?.finish_reason === 'string' ? choice.finish_reason : null,
  };
}

function errorDetail(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } | string };
    const m = typeof j.error === 'string' ? j.error : j.error?.message;
    if (typeof m === 'string') return m.slice(0, 200);
  } catch {
    /* not JSON: use the raw text */
  }
  return text.slice(0, 200);
}
