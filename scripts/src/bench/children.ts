import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** Every child still running; killed outright if the bench exits without stopping them. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ChildOptions {
  /** The child's whole environment (nothing is inherited). */
  readonly env: Record<string, string>;
  readonly args?: readonly string[];
}

/** A process the bench started: its output's tail, and how to stop it. */
export class Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Set when the child exited without being asked to. */
  unexpectedExit: string | undefined;
  #tail: string[] = [];
  #stopping = false;
  readonly #exited: Promise<void>;

  constructor(name: string, modulePath: string, options: ChildOptions) {
    this.name = name;
    this.process = fork(modulePath, [...(options.args ?? [])], {
      env: options.env,
      execArgv: ['--require', join(__dirname, 'orphan-guard.js')],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    running.add(this.process);
    const keep = (chunk: Buffer) => {
      this.#tail.push(...chunk.toString().split('\n').filter(Boolean));
      if (this.#tail.length > 40) this.#tail = this.#tail.slice(-40);
    };
    this.process.stdout?.on('data', keep);
    this.process.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        running.delete(this.process);
        if (!this.#stopping) this.unexpectedExit = `${this.name} exited (${signal ?? `code ${code}`}) on its own; its last output:\n${this.output()}`;
        resolve();
      });
    });
  }

  /** The last lines the child wrote. */
  output(): string {
    return this.#tail.map((line) => `    ${line}`).join('\n');
  }

  /** Throws if the child died on its own. */
  check(): void {
    if (this.unexpectedExit) throw new Error(this.unexpectedExit);
  }

  /** SIGTERM (the services' graceful shutdown), then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.#stopping = true;
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => {
      process.stderr.write(`  ${this.name} did not stop within ${graceMs / 1000} s of SIGTERM: killed\n`);
      this.process.kill('SIGKILL');
    }, graceMs);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** A group of children stopped together, in reverse order of start. */
export class ChildGroup {
  readonly #children: Child[] = [];

  start(name: string, modulePath: string, options: ChildOptions): Child {
    const child = new Child(name, modulePath, options);
    this.#children.push(child);
    return child;
  }

  /** [name, pid] of each child started. */
  pids(): [string, number][] {
    return this.#children.map((child) => [child.name, child.process.pid ?? -1]);
  }

  /** Throws if any child died on its own. */
  check(): void {
    for (const child of this.#children) child.check();
  }

  async stop(names?: readonly string[]): Promise<void> {
    const chosen = this.#children.filter((child) => !names || names.includes(child.name)).reverse();
    await Promise.all(chosen.map((child) => child.stop()));
  }
}

/**
 * A port free right now on 127.0.0.1. A child given PORT=0 would pick its own, which the bench
 * could not learn, so ports are chosen here.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('could not find a free port');
  return address.port;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it is true; calls `check` (which throws on a dead child) on every round. */
export async function waitUntil(probe: () => Promise<boolean>, options: { what: string; timeoutMs?: number; check?: () => void; intervalMs?: number }): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    options.check?.();
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what}`);
    await sleep(options.intervalMs ?? 100);
  }
}
