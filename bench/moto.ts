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

/** moto's server, exiting as soon as its stdin closes: on stop(), or when the bench ends in any way. */
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
  let child: ChildProcess | undefined;
  let port = 0;
  let log = '';
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    port = await freePort();
    const c = spawn('python3', ['-c', SERVE, '-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, TMPDIR: dir },
    });
    c.on('error', () => {}); // no python3: reported below
    c.stdin!.on('error', () => {});
    c.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
    const until = Date.now() + 30_000;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) break; // the port was taken in between, or no python3
      const up = await fetch(`http://127.0.0.1:${port}/moto-api/`).then((r) => r.status < 500, () => false);
      if (up) {
        child = c;
        break;
      }
      if (Date.now() > until) {
        c.kill('SIGKILL');
        throw new Error(`moto's server did not start on 127.0.0.1:${port} within 30 s: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!child && /No module named/.test(log)) break;
  }
  if (!child) {
    throw new Error(`the S3 bench needs moto's server (python3 -m pip install --user "moto[server]"), which did not start: ${log.trim().split('\n').pop() ?? ''}`);
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: BENCH_CREDENTIALS });
  try {
    for (const b of buckets) await client.send(new CreateBucketCommand({ Bucket: b }));
  } finally {
    client.destroy();
  }
  const running = child;
  return {
    endpoint,
    async stop() {
      const cpu = cpuSeconds(running.pid!);
      if (running.exitCode === null && running.signalCode === null) {
        const exited = once(running, 'exit');
        running.stdin!.end();
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (running.exitCode === null && running.signalCode === null) running.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
      return cpu;
    },
  };
}
