/**
 * Which processes talk to a port, read from /proc as `ss -p` does: a
 * process's socket descriptors name inodes, and /proc/net/tcp lists each
 * inode's connection; and which worker processes a parent started. For tests
 * that act on one worker process once it is known to be sending.
 */
import { execFileSync } from 'node:child_process';
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

/** The worker processes `doppel replay --workers N` started under `parentPid`, by worker id (w2, w3, ...). */
export function ipcWorkerPids(parentPid: number): Map<string, number> {
  let ps = '';
  try {
    ps = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(parentPid)], { encoding: 'utf8' });
  } catch {
    // ps exits 1 while the parent has no children
  }
  const out = new Map<string, number>();
  for (const line of ps.split('\n')) {
    const m = / --ipc-worker (w\d+)\b/.exec(line);
    if (m !== null) out.set(m[1] as string, Number(line.trim().split(/\s+/)[0]));
  }
  return out;
}
