/**
 * `reply_to` (CONTRACT §3, ORIGINAL §1.6): the Redis channel an RPC's success is also published on.
 * A caller-chosen channel name is a way into every subscriber of this Redis (the socket.io adapter,
 * the listener control channel, users' event channels), so only names in an allow-listed namespace
 * (`RPC_REPLY_PREFIXES`) are accepted, compared case-sensitively after the name has been checked to
 * be plain printable ASCII (nothing a subscriber or a pattern could read differently).
 */

export const REPLY_TO_MAX_LENGTH = 256;
export const DEFAULT_REPLY_PREFIXES: readonly string[] = ['rpc:reply:', 'redis:reply:'];

/** Namespaces of this service's own channels: an allow-listed prefix may not overlap them. */
export const INTERNAL_CHANNEL_NAMESPACES: readonly string[] = ['socket.io', 'listeners:', 'rt:', 'events:', 'registry:', 'idemp:', 'presence:', 'tasks:', 'bull'];

/** Why `name` is not an acceptable channel name (or prefix), or undefined. */
function characterProblem(name: string, what: string): string | undefined {
  if (name.includes('\u0000')) return `${what} must not contain NUL`;
  // eslint-disable-next-line no-control-regex -- matching control characters is this check's purpose
  if (/[\u0001-\u001f\u007f-\u009f]/.test(name)) return `${what} must not contain control characters`;
  if (/[\s\u200b-\u200d\u2060\ufeff]/u.test(name)) return `${what} must not contain whitespace`;
  if (/[*?[\]\\]/.test(name)) return `${what} must not contain the pattern characters * ? [ ] \\`;
  if (name.normalize('NFKC') !== name) return `${what} must be in Unicode normal form (NFKC)`;
  if (/[^\x21-\x7e]/.test(name)) return `${what} may contain only printable ASCII characters`;
  return undefined;
}

/** Why `channel` is refused as a `reply_to` given the allowed prefixes, or undefined when it is fine. */
export function replyToProblem(channel: string, prefixes: readonly string[]): string | undefined {
  if (channel.length === 0) return 'reply_to must not be empty';
  if (channel.length > REPLY_TO_MAX_LENGTH) return `reply_to must be at most ${REPLY_TO_MAX_LENGTH} characters`;
  const bad = characterProblem(channel, 'reply_to');
  if (bad) return bad;
  const allowed = prefixes.some((p) => channel.length > p.length && channel.startsWith(p));
  if (!allowed) {
    const list = prefixes.map((p) => `"${p}"`).join(', ');
    return prefixes.length === 0
      ? 'reply_to is disabled on this service (RPC_REPLY_PREFIXES is empty)'
      : `reply_to must be a channel name starting with ${list} (case-sensitive) followed by a name`;
  }
  return undefined;
}

/** Configuration problems of an allow-list (RPC_REPLY_PREFIXES), given the service's own channel prefixes. */
export function replyPrefixProblems(prefixes: readonly string[], ownPrefixes: readonly string[]): string[] {
  const problems: string[] = [];
  const reserved = [...INTERNAL_CHANNEL_NAMESPACES, ...ownPrefixes.filter(Boolean)];
  for (const p of prefixes) {
    const bad = characterProblem(p, `prefix "${p}"`);
    if (bad) {
      problems.push(`RPC_REPLY_PREFIXES: ${bad}`);
      continue;
    }
    if (p.length < 3) problems.push(`RPC_REPLY_PREFIXES: prefix "${p}" is too short (at least 3 characters)`);
    const clash = reserved.find((r) => p.startsWith(r) || r.startsWith(p));
    if (clash) problems.push(`RPC_REPLY_PREFIXES: prefix "${p}" overlaps the service's own channel namespace "${clash}"`);
  }
  return problems;
}
