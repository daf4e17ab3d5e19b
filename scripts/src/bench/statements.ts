import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Frontend (client → server) messages of the PostgreSQL protocol seen by a {@link PgCountingProxy}. */
export interface PgMessageCounts {
  /** 'Q': a simple-protocol query (node-postgres sends BEGIN/COMMIT and queries without parameters this way). */
  simpleQuery: number;
  /** 'E': Execute of the extended protocol (Parse/Bind/Describe/Execute/Sync): one statement run. */
  execute: number;
  /** 'P': Parse (a statement prepared, named or not). */
  parse: number;
  /** 'S': Sync (ends one extended-protocol round trip). */
  sync: number;
  /** Connections opened through the proxy. */
  connections: number;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/**
 * A TCP proxy in front of PostgreSQL that forwards every byte unchanged and counts the
 * frontend messages by type. PostgreSQL 15 has no per-statement counter without
 * pg_stat_statements; counting Execute + simple Query messages on the wire gives statements.
 * It cannot read TLS: point it at a server the engine reaches without TLS (as on loopback).
 */
export class PgCountingProxy {
  readonly counts: PgMessageCounts = { simpleQuery: 0, execute: 0, parse: 0, sync: 0, connections: 0 };
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #target: { host: string; port: number };

  constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Listens on a free loopback port and returns it. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => this.#server.once('error', reject).listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    if (!address || typeof address === 'string') throw new Error('proxy has no port');
    return address.port;
  }

  snapshot(): PgMessageCounts {
    return { ...this.counts };
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.counts.connections++;
    const server = createConnection(this.#target);
    for (const socket of [client, server]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    }
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
    client.pipe(server);
    server.pipe(client);

    // The first messages (startup, SSL/GSS requests) have no type byte; typed messages follow.
    let startup = true;
    let pending: Buffer = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      for (;;) {
        if (startup) {
          if (pending.length - at < 8) break;
          const length = pending.readInt32BE(at);
          if (pending.length - at < length) break;
          const code = pending.readInt32BE(at + 4);
          at += length;
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false;
          continue;
        }
        if (pending.length - at < 5) break;
        const length = pending.readInt32BE(at + 1);
        if (pending.length - at < 1 + length) break;
        this.#count(pending[at] ?? 0);
        at += 1 + length;
      }
      pending = at === 0 ? pending : pending.subarray(at);
    });
  }

  #count(type: number): void {
    switch (String.fromCharCode(type)) {
      case 'Q':
        this.counts.simpleQuery++;
        break;
      case 'E':
        this.counts.execute++;
        break;
      case 'P':
        this.counts.parse++;
        break;
      case 'S':
        this.counts.sync++;
        break;
      default:
    }
  }
}

/** `after − before` of each count. */
export function countsBetween(before: PgMessageCounts, after: PgMessageCounts): PgMessageCounts {
  return {
    simpleQuery: after.simpleQuery - before.simpleQuery,
    execute: after.execute - before.execute,
    parse: after.parse - before.parse,
    sync: after.sync - before.sync,
    connections: after.connections - before.connections,
  };
}
