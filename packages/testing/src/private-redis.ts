import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { waitFor } from './wait-for';

/** A redis-server of a test's own, for what must not touch the shared one (FLUSHALL, restarts). */
export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** A client for direct commands (FLUSHALL, INFO). */
  readonly redis: Redis;
  /** Stops the server (SIGKILL when `hard`) and starts it again, empty, on the same port. */
  restart(options?: { readonly hard?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });

/**
 * Starts `redis-server` on a free loopback port, keeping nothing on disk.
 *
 * @example
 * const redis = await startPrivateRedis();
 * await redis.redis.flushall();
 * await redis.stop();
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  const started = async () => {
    await waitFor(async () => (await client.ping().catch(() => null)) === 'PONG', { timeoutMs: 10_000, message: `redis-server on ${port}` });
  };
  await client.connect().catch(() => undefined);
  await started();
  const kill = (signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  return {
    url,
    port,
    redis: client,
    async restart(options = {}) {
      await kill(options.hard ? 'SIGKILL' : 'SIGTERM');
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await started();
    },
    async stop() {
      client.disconnect();
      await kill('SIGTERM');
    },
  };
}
