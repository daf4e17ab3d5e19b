import { parseArgs } from 'node:util';

/** What one chaos run does; `npm run chaos -- --help` lists the flags. */
export interface ChaosOptions {
  /** Communications sent over the HTTP API (a third each by email, SMS and WhatsApp). */
  readonly n: number;
  /** A random worker is SIGKILLed (and restarted at once) this often, in ms. */
  readonly killEveryMs: number;
  /** Most kills (undefined: as many as fit in the chaos phase). The chaos phase lasts until this many happened. */
  readonly kills: number | undefined;
  /** Times the private Redis is stopped and started again empty. */
  readonly redisRestarts: number;
  /** Restart PostgreSQL once (an embedded PostgreSQL the run starts itself). */
  readonly pgRestart: boolean;
  /** How long the sandbox's WhatsApp stand-in is down, in seconds. */
  readonly outageSeconds: number;
  /** Share of emails the sandbox refuses with a transient 451 during the chaos phase. */
  readonly errorRate: number;
  /** Items per batch request. */
  readonly batchSize: number;
  /** Quiescence: stop waiting when no row changed for this long, in seconds. */
  readonly quietSeconds: number;
  readonly json: boolean;
  /** Write the figures into the chaos section of docs/reliability.md. */
  readonly doc: boolean;
}

export const usage = `usage: npm run chaos -- [options]
  --n <count>               communications to send (default 10000)
  --kill-every-ms <ms>      SIGKILL a random worker this often (default 3000)
  --kills <count>           most kills; the chaos phase lasts until this many (default: no limit)
  --redis-restarts <count>  restarts of the private Redis, empty (default 1)
  --pg-restart              run on an embedded PostgreSQL of the run's own and restart it once
  --outage-seconds <s>      WhatsApp stand-in outage (default 30)
  --error-rate <0-1>        share of emails refused with a transient 451 (default 0.2)
  --batch-size <count>      items per batch request (default 250)
  --quiet-seconds <s>       give up waiting when nothing changed for this long (default 60)
  --json                    print the report as JSON
  --doc                     write the figures into docs/reliability.md (chaos section)
  --help`;

function integer(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${value}`);
  return parsed;
}

/** Parses the command line; throws with a message naming the bad option. */
export function parseChaosOptions(argv: readonly string[]): ChaosOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      n: { type: 'string' },
      'kill-every-ms': { type: 'string' },
      kills: { type: 'string' },
      'redis-restarts': { type: 'string' },
      'pg-restart': { type: 'boolean' },
      'outage-seconds': { type: 'string' },
      'error-rate': { type: 'string' },
      'batch-size': { type: 'string' },
      'quiet-seconds': { type: 'string' },
      json: { type: 'boolean' },
      doc: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const errorRate = values['error-rate'] === undefined ? 0.2 : Number(values['error-rate']);
  if (!(errorRate >= 0 && errorRate <= 1)) throw new Error(`--error-rate must be between 0 and 1, got ${values['error-rate']}`);
  return {
    n: integer('n', values.n, 10_000, 3),
    killEveryMs: integer('kill-every-ms', values['kill-every-ms'], 3_000, 100),
    kills: values.kills === undefined ? undefined : integer('kills', values.kills, 0),
    redisRestarts: integer('redis-restarts', values['redis-restarts'], 1),
    pgRestart: values['pg-restart'] ?? false,
    outageSeconds: integer('outage-seconds', values['outage-seconds'], 30),
    errorRate,
    batchSize: Math.min(1000, integer('batch-size', values['batch-size'], 250, 1)),
    quietSeconds: integer('quiet-seconds', values['quiet-seconds'], 60, 1),
    json: values.json ?? false,
    doc: values.doc ?? false,
  };
}
