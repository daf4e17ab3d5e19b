import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';

/** An RFC 9457 problem; `type` is `about:blank`, so `title` is the status phrase. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
}

/**
 * The problem for an HTTP status, with `detail` saying what went wrong this time.
 *
 * @example
 * problem(404, 'No message with id 42') // { type: 'about:blank', title: 'Not Found', status: 404, detail: … }
 */
export function problem(status: number, detail: string): ProblemDetails {
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail };
}

/**
 * Answers with `problem` as `application/problem+json`.
 *
 * @example
 * return sendProblem(reply, problem(400, 'limit must be <= 1000'));
 */
export function sendProblem(reply: FastifyReply, details: ProblemDetails): FastifyReply {
  return reply.code(details.status).type('application/problem+json').send(details);
}
