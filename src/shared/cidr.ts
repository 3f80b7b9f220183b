import { BlockList, isIP } from 'node:net';

/**
 * CIDR lists for the /ws migration bridge (CONTRACT §13.6): parsing with precise problems, and
 * matching with node's `net.BlockList` (IPv4 and IPv6; IPv4-mapped IPv6 peers are matched as IPv4).
 */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
  readonly text: string;
}

/** Parses `a.b.c.d/n`, `x::y/n` or a bare address (= /32 or /128); a problem string when invalid. */
export function parseCidr(text: string): Cidr | string {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = slash === -1 ? t : t.slice(0, slash);
  const v = isIP(addr);
  if (v === 0) return `"${t}" is not an IP address or CIDR range`;
  const family = v === 4 ? 'ipv4' : 'ipv6';
  const max = v === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return `"${t}": prefix length must be 0..${max}`;
    prefix = Number(p);
  }
  return { address: addr, prefix, family, text: t };
}

/** Peer addresses as node reports them: `::ffff:10.0.0.1` is the IPv4 address 10.0.0.1. */
export function normalizeAddress(address: string): string {
  const a = address.trim();
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return m ? m[1]! : a;
}

export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(readonly cidrs: readonly Cidr[]) {
    for (const c of cidrs) this.list.addSubnet(c.address, c.prefix, c.family);
    this.size = cidrs.length;
  }

  /** Parses a list of CIDR strings; throws with every problem when one is invalid. */
  static parse(items: readonly string[]): CidrSet {
    const parsed = items.map(parseCidr);
    const problems = parsed.filter((p): p is string => typeof p === 'string');
    if (problems.length > 0) throw new Error(problems.join('; '));
    return new CidrSet(parsed as Cidr[]);
  }

  has(address: string | undefined): boolean {
    if (!address || this.size === 0) return false;
    const a = normalizeAddress(address);
    const v = isIP(a);
    if (v === 0) return false;
    return this.list.check(a, v === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * The client's address: the TCP peer, or, when the peer is a trusted proxy, the right-most
 * X-Forwarded-For address that is not itself a trusted proxy (addresses to its left can be forged
 * by the client). Undefined when the header names nothing usable.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, proxies: CidrSet): string | undefined {
  if (!peer) return undefined;
  const p = normalizeAddress(peer);
  if (!proxies.has(p) || forwardedFor === undefined) return p;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((s) => normalizeAddress(s))
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) return undefined; // garbage in the chain: trust nothing to its left
    if (!proxies.has(hop)) return hop;
  }
  return hops.length > 0 ? hops[0] : p;
}
