/**
 * Hosts for multi-host tests, made of Linux network namespaces (Debian's
 * iproute2, as root): each host is a namespace of its own with loopback and
 * one veth whose other end sits on a bridge in a "switch" namespace; the
 * test process (the root namespace) is on the same bridge through a veth of
 * its own, so it can talk to every host by address. One 10.x.y.0/24 per
 * network, chosen so it overlaps nothing the root namespace routes. No
 * bridge or firewall rule touches the root namespace.
 *
 *   root ns (test, 10.x.y.1) ─ veth ─┐
 *   <tag>-store   (10.x.y.2) ─ veth ─┤ bridge in <tag>-switch
 *   <tag>-gateway (10.x.y.3) ─ veth ─┤
 *   …                                ┘
 *
 * Names carry the process id (`vm<pid><seq>`), so parallel runs never clash,
 * and a run that was SIGKILLed is cleaned up by the next one (its pid is
 * gone). `cut(host)` sets the host's port on the bridge down (the cable
 * pulled at the switch: the host sees its carrier go, every packet to or
 * from it is dropped, no connection is reset); `restore(host)` sets it up.
 * `destroy()` (afterAll) and a process exit / signal handler remove the
 * namespaces and links, killing what still runs inside them first.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** iproute2's `ip` (the sbin directories are not on every PATH). */
export const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';

export interface NetnsHost {
  /** the name the test gave it */
  name: string;
  /** the namespace (`ip netns exec <ns> …`) */
  ns: string;
  /** its address on the network */
  ip: string;
  /** its own interface (inside `ns`) */
  dev: string;
  /** its port on the bridge (inside the switch namespace): what `cut` sets down */
  port: string;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface TestNetwork {
  /** the prefix of every name this network made */
  tag: string;
  /** `10.x.y.0/24` */
  subnet: string;
  /** the root namespace's (the test process's) address on the network */
  clientIp: string;
  hosts: NetnsHost[];
  host(name: string): NetnsHost;
  /** the command prefix that runs something on `host`: `['ip', 'netns', 'exec', ns]` (for spawnWorker, startRedis, …) */
  wrap(host: string): string[];
  /** runs a short command on `host` and resolves with its exit code and output (killed after `timeoutMs`) */
  exec(host: string, cmd: string, args?: string[], timeoutMs?: number): Promise<ExecResult>;
  /** whether a TCP connection from `host` to `ip:port` opens within `timeoutMs` */
  reachable(host: string, ip: string, port: number, timeoutMs?: number): Promise<boolean>;
  /** cuts `host` off the network (its bridge port down) */
  cut(host: string): Promise<void>;
  /** puts it back */
  restore(host: string): Promise<void>;
  /** kills what still runs in the namespaces, deletes them and the links (idempotent) */
  destroy(): Promise<void>;
}

const run = (args: string[], timeoutMs = 10_000): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(IP, args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });

const runSync = (args: string[]): string => {
  try {
    return execFileSync(IP, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  } catch {
    return '';
  }
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const NS_RE = /^vm(\d+)[a-z]-/;
const LINK_RE = /^vm(\d+)[a-z](?:c|cs|br|h\d+|s\d+)$/;

/** Kills (SIGKILL) what runs in `ns` — processes this run started there — then deletes it. */
function deleteNsSync(ns: string): void {
  for (const pid of runSync(['netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  runSync(['netns', 'del', ns]);
}

/** Namespaces and root-namespace links a run left behind when it was killed (its pid is gone). */
function removeStaleSync(): void {
  for (const line of runSync(['netns', 'list']).split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const m = NS_RE.exec(ns);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) deleteNsSync(ns);
  }
  for (const line of runSync(['-o', 'link', 'show']).split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? '';
    const m = LINK_RE.exec(name);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) runSync(['link', 'del', name]);
  }
}

/**
 * Why namespaces cannot be used here (null: they can): not root, no `ip`, or `ip netns add` / veth /
 * bridge refused (a container without the capability) — found by trying.
 */
export async function netnsUnavailable(): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces are Linux-only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root: ip netns needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN)';
  if (IP === 'ip' && !runSync(['-V'])) return 'iproute2 is not installed (apt-get install iproute2)';
  const ns = `vm${process.pid}z-probe`;
  try {
    await run(['netns', 'add', ns]);
  } catch (err) {
    return `ip netns add is not permitted here: ${(err as Error).message}`;
  }
  try {
    await run(['-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
    await run(['-n', ns, 'link', 'add', 'b0', 'type', 'bridge']);
    return null;
  } catch (err) {
    return `veth or bridge links are not permitted here: ${(err as Error).message}`;
  } finally {
    await run(['netns', 'del', ns]).catch(() => undefined);
  }
}

/** IPv4 prefixes (address/len) the root namespace has routes or addresses for. */
async function rootPrefixes(): Promise<[number, number][]> {
  const text = `${await run(['-4', 'route', 'show', 'table', 'all'])}\n${await run(['-4', '-o', 'addr', 'show'])}`;
  const out: [number, number][] = [];
  for (const m of text.matchAll(/(?:^|\s)(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/gm)) {
    const len = m[2] === undefined ? 32 : Number(m[2]);
    const addr = m[1]!.split('.').reduce((a, o) => a * 256 + Number(o), 0);
    if (len > 0) out.push([addr, len]);
  }
  return out;
}

function pickSubnet(taken: [number, number][], seed: number): [number, number] {
  const overlaps = (net: number): boolean =>
    taken.some(([addr, len]) => {
      const l = Math.min(len, 24);
      const mask = l === 0 ? 0 : (0xffffffff << (32 - l)) >>> 0;
      return ((addr & mask) >>> 0) === ((net & mask) >>> 0);
    });
  for (let i = 0; i < 50 * 256; i++) {
    const k = (seed + i) % (50 * 256);
    const b = 200 + Math.floor(k / 256);
    const c = k % 256;
    const net = ((10 << 24) | (b << 16) | (c << 8)) >>> 0;
    if (!overlaps(net)) return [b, c];
  }
  throw new Error('no free 10.200-249.x.0/24 for a test network');
}

const live = new Set<{ destroySync(): void }>();
let handlersInstalled = false;
let seq = 0;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const all = (): void => {
    for (const n of [...live]) n.destroySync();
  };
  process.once('exit', all);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      all();
      // then what the signal would have done without this listener (unless someone else handles it)
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.once(sig, onSignal);
  }
}

/** Makes a network of hosts named `names` (letters, digits, "-"). The caller must `destroy()` it (afterAll). */
export async function createNetwork(names: string[]): Promise<TestNetwork> {
  for (const n of names) if (!/^[a-z0-9-]{1,24}$/.test(n) || n === 'switch') throw new Error(`host name "${n}" must be 1-24 of a-z, 0-9, "-" (and not "switch")`);
  if (new Set(names).size !== names.length) throw new Error('host names must differ');
  if (names.length > 250) throw new Error('at most 250 hosts');
  removeStaleSync();
  const tag = `vm${process.pid}${String.fromCharCode(97 + (seq++ % 25))}`;
  const [b, c] = pickSubnet(await rootPrefixes(), process.pid * 7 + seq);
  const addr = (i: number): string => `10.${b}.${c}.${i}`;
  const sw = `${tag}-switch`;
  const br = `${tag}br`;
  const hosts: NetnsHost[] = names.map((name, i) => ({ name, ns: `${tag}-${name}`, ip: addr(i + 2), dev: `${tag}h${i}`, port: `${tag}s${i}` }));
  const namespaces = [sw, ...hosts.map((h) => h.ns)];
  let destroyed = false;

  const destroySync = (): void => {
    if (destroyed) return;
    destroyed = true;
    live.delete(handle);
    for (const ns of namespaces.slice().reverse()) deleteNsSync(ns);
    runSync(['link', 'del', `${tag}c`]); // gone with the switch namespace already, unless that failed
  };
  const handle = { destroySync };
  live.add(handle);
  installHandlers();

  const byName = (name: string): NetnsHost => {
    const h = hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host "${name}" (hosts: ${names.join(', ')})`);
    return h;
  };
  const wrap = (name: string): string[] => [IP, 'netns', 'exec', byName(name).ns];

  try {
    await run(['netns', 'add', sw]);
    await run(['-n', sw, 'link', 'set', 'lo', 'up']);
    await run(['-n', sw, 'link', 'add', br, 'type', 'bridge', 'stp_state', '0']);
    await run(['-n', sw, 'link', 'set', br, 'up']);
    // the test process's own leg
    await run(['link', 'add', `${tag}c`, 'type', 'veth', 'peer', 'name', `${tag}cs`, 'netns', sw]);
    await run(['-n', sw, 'link', 'set', `${tag}cs`, 'master', br, 'up']);
    await run(['addr', 'add', `${addr(1)}/24`, 'dev', `${tag}c`]);
    await run(['link', 'set', `${tag}c`, 'up']);
    for (const h of hosts) {
      await run(['netns', 'add', h.ns]);
      await run(['-n', h.ns, 'link', 'set', 'lo', 'up']);
      await run(['-n', h.ns, 'link', 'add', h.dev, 'type', 'veth', 'peer', 'name', h.port, 'netns', sw]);
      await run(['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.dev]);
      await run(['-n', h.ns, 'link', 'set', h.dev, 'up']);
      await run(['-n', sw, 'link', 'set', h.port, 'master', br, 'up']);
    }
  } catch (err) {
    destroySync();
    throw err;
  }

  const exec = (name: string, cmd: string, args: string[] = [], timeoutMs = 10_000): Promise<ExecResult> =>
    new Promise((resolve) => {
      const [bin, ...pre] = wrap(name);
      const proc = spawn(bin!, [...pre, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.stdout.on('error', (e: Error) => (stderr += `\n[stdout: ${e.message}]`));
      proc.stderr.on('error', (e: Error) => (stderr += `\n[stderr: ${e.message}]`));
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      proc.once('error', (e) => {
        clearTimeout(timer);
        resolve({ code: null, stdout, stderr: `${stderr}\n[spawn failed: ${e.message}]` });
      });
      proc.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  return {
    tag,
    subnet: `${addr(0)}/24`,
    clientIp: addr(1),
    hosts,
    host: byName,
    wrap,
    exec,
    async reachable(name, ip, port, timeoutMs = 1500) {
      const script = `const s=require('net').connect({host:${JSON.stringify(ip)},port:${port}});s.setTimeout(${timeoutMs},()=>process.exit(2));s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));`;
      const r = await exec(name, process.execPath, ['-e', script], timeoutMs + 5000);
      return r.code === 0;
    },
    async cut(name) {
      await run(['-n', sw, 'link', 'set', byName(name).port, 'down']);
    },
    async restore(name) {
      await run(['-n', sw, 'link', 'set', byName(name).port, 'up']);
    },
    async destroy() {
      destroySync();
    },
  };
}
