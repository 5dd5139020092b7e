/**
 * The S3 server for benchmarks: moto's (`python3 -m moto.server`, the S3 the tests use) in its own
 * process, so it has a core of its own as a real server would, on 127.0.0.1 on a free port, with the
 * buckets created. moto keeps objects in memory and spills large ones to temporary files: those go
 * to `dir` (its TMPDIR, fresh for each server, removed by `stop()`), on tmpfs when the caller picks
 * /dev/shm, so the disk's writeback does not blur the numbers.
 *
 *   const server = await startBenchMoto(dir, ['bench']);
 *   ... upload to server.endpoint ...
 *   const serverCpuSeconds = await server.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface BenchS3Server {
  endpoint: string;
  /** Stops the server, removes its folder and returns the CPU seconds (user + system) it used (NaN where /proc is missing). */
  stop(): Promise<number>;
}

/**
 * moto's server, run so that it exits as soon as its stdin closes: on stop(), or when the process
 * that started it ends in any way (vitest's workers end without an 'exit' event), so no server
 * outlives its bench or test.
 */
const SERVE = 'import os, sys, threading\nthreading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\nfrom moto.server import main\nmain(sys.argv[1:])';

/** moto accepts any credentials unless told otherwise. */
export const BENCH_CREDENTIALS = { accessKeyId: 'bench', secretAccessKey: 'bench' };

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

export interface MotoProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  /** Closes its stdin (it exits), then kills it if it has not exited within 5 s. */
  stop(): Promise<void>;
}

/**
 * The one launcher of moto's server, for the bench (below) and the tests (test/support/moto.ts): on
 * 127.0.0.1, on a free port (another if the port was taken in between), answering within 30 s.
 */
export async function launchMoto(env: NodeJS.ProcessEnv = process.env): Promise<MotoProcess> {
  let log = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const c = spawn('python3', ['-c', SERVE, '-H', '127.0.0.1', '-p', String(port)], { stdio: ['pipe', 'pipe', 'pipe'], env });
    c.on('error', () => {}); // no python3: reported below
    c.stdin!.on('error', () => {});
    c.stdout!.on('data', (d) => (log = (log + d).slice(-4000)));
    c.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
    const until = Date.now() + 30_000;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) break; // the port was taken in between, or no python3
      const up = await fetch(`http://127.0.0.1:${port}/moto-api/`).then((r) => r.status < 500, () => false);
      if (up) return { child: c, endpoint: `http://127.0.0.1:${port}`, stop: () => stopMoto(c) };
      if (Date.now() > until) {
        c.kill('SIGKILL');
        throw new Error(`moto's server did not start on 127.0.0.1:${port} within 30 s: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (/No module named/.test(log)) break;
  }
  throw new Error(`moto's server (python3 -m pip install --user "moto[server]") did not start: ${log.trim().split('\n').pop() ?? ''}`);
}

async function stopMoto(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin!.end();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** User + system CPU seconds of a running process, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    // the fields after the command name, which is in parentheses and may hold spaces
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    return ticks / hz;
  } catch {
    return NaN;
  }
}

/** Starts moto's server with a fresh `dir` as its temporary folder, and creates the buckets. */
export async function startBenchMoto(dir: string, buckets: string[]): Promise<BenchS3Server> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const moto = await launchMoto({ ...process.env, TMPDIR: dir });
  const endpoint = moto.endpoint;
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: BENCH_CREDENTIALS });
  try {
    for (const b of buckets) await client.send(new CreateBucketCommand({ Bucket: b }));
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    async stop() {
      const cpu = cpuSeconds(moto.child.pid!);
      await moto.stop();
      await rm(dir, { recursive: true, force: true });
      return cpu;
    },
  };
}
