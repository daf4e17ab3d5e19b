import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { QueueProducer } from '@crm/queue';
import { problemBody } from './problem';

/** Who may open the operator pages. */
export interface OperatorAccess {
  readonly username: string;
  /** `null`: the operator pages answer 503 (`OPERATOR_PASSWORD` unset). */
  readonly password: string | null;
}

/** Where Bull Board is served. */
export const BULL_BOARD_PATH = '/admin/queues';
const REALM = 'Basic realm="crm-engine operators", charset="UTF-8"';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
/** Equal strings, compared in constant time (over their SHA-256, so lengths do not leak either). */
const sameText = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

/** Whether an `Authorization: Basic …` header carries these credentials. Both parts are always compared. */
export function basicCredentialsMatch(header: string | undefined, username: string, password: string): boolean {
  const match = header ? /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header) : null;
  const decoded = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const user = colon >= 0 ? decoded.slice(0, colon) : '';
  const pass = colon >= 0 ? decoded.slice(colon + 1) : '';
  const userOk = sameText(user, username);
  const passOk = sameText(pass, password);
  return colon >= 0 && userOk && passOk;
}

function refuse(reply: FastifyReply, code: 'operator_unauthorized' | 'operator_access_disabled', detail: string): FastifyReply {
  const body = problemBody(code, detail, code === 'operator_unauthorized' ? [{ field: 'authorization', in: 'header', message: detail }] : []);
  if (code === 'operator_unauthorized') reply.header('www-authenticate', REALM);
  return reply.code(body.status).type('application/problem+json').send(body);
}

/**
 * Bull Board at `/admin/queues`, showing every queue of the engine, behind HTTP Basic auth
 * with the operator's user name and password (constant-time comparison). Without a password
 * configured every request gets 503 `operator_access_disabled`.
 */
export const operatorRoutes: FastifyPluginAsync<{ producer: QueueProducer; operator: OperatorAccess }> = async (app, { producer, operator }) => {
  app.addHook('onRequest', async (request, reply) => {
    if (operator.password === null) return refuse(reply, 'operator_access_disabled', 'set OPERATOR_PASSWORD (12+ characters) to open the operator pages');
    if (!basicCredentialsMatch(request.headers.authorization, operator.username, operator.password)) {
      return refuse(reply, 'operator_unauthorized', 'authorization: operator user name and password required (HTTP Basic)');
    }
  });
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: producer.allQueues().map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'crm-engine queues' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
};
