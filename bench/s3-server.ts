/**
 * The local S3 server for benchmarks, in its own process (so it has a core of its own, as a real
 * server would): `node dist/bench/s3-server.js <dir> [bucket...]` starts s3rver on 127.0.0.1 on a
 * free port, creates the buckets, prints `{"endpoint": "http://127.0.0.1:PORT"}` and serves until
 * its stdin closes or it gets SIGTERM.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import split2 from 'split2';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  store: { putBucket(name: string): Promise<unknown> };
}

export interface BenchS3Server {
  endpoint: string;
  /** Stops the server and returns the CPU seconds (user + system) it used. */
  stop(): Promise<number>;
}

/** Starts the server in a child process with a fresh data folder, removed again by `stop()`. */
export async function startBenchS3Server(dir: string, buckets: string[]): Promise<BenchS3Server> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), dir, ...buckets], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = child.stdout!.pipe(split2());
  const [line] = (await Promise.race([once(lines, 'data'), once(child, 'exit').then(() => { throw new Error('the S3 server exited'); })])) as [string];
  const { endpoint } = JSON.parse(line) as { endpoint: string };
  return {
    endpoint,
    async stop() {
      const report = once(lines, 'data').then(([l]) => (JSON.parse(l as string) as { cpuSeconds: number }).cpuSeconds, () => NaN);
      child.stdin!.end();
      const cpuSeconds = await report;
      if (child.exitCode === null) await once(child, 'exit');
      await rm(dir, { recursive: true, force: true });
      return cpuSeconds;
    },
  };
}

async function serve(dir: string, buckets: string[]): Promise<void> {
  const S3rver = createRequire(import.meta.url)('s3rver') as new (o: Record<string, unknown>) => S3rverInstance;
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, vhostBuckets: false });
  const address = await server.run();
  for (const b of buckets) await server.store.putBucket(b);
  process.stdout.write(JSON.stringify({ endpoint: `http://127.0.0.1:${address.port}` }) + '\n');
  const stop = () => {
    const cpu = process.cpuUsage();
    process.stdout.write(JSON.stringify({ cpuSeconds: (cpu.user + cpu.system) / 1e6 }) + '\n', () => server.close().then(() => process.exit(0)));
  };
  process.stdin.on('end', stop).resume();
  process.on('SIGTERM', stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, ...buckets] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: s3-server.js <dir> [bucket...]');
    process.exit(2);
  }
  serve(dir, buckets).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
