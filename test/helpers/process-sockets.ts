/**
 * Which processes talk to a port, read from /proc as `ss -p` does: a
 * process's socket descriptors name inodes, and /proc/net/tcp lists each
 * inode's connection. For tests that act on one worker process once it is
 * known to be sending.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Established IPv4 connections of process `pid` to 127.0.0.1:`port`. */
export function connectionsTo(pid: number, port: number): number {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m !== null) inodes.add(m[1] as string);
    } catch {
      // closed while listed
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // f[2]: remote address, f[3]: state (01 = ESTABLISHED), f[9]: inode
    if (f.length > 9 && f[2] === `0100007F:${hexPort}` && f[3] === '01' && inodes.has(f[9] as string)) n++;
  }
  return n;
}
