import type { z } from 'zod';
import { problem, type ProblemDetails } from './problem-details';

/** Where a request input is, as Fastify names it. */
export type InputPart = 'body' | 'querystring' | 'params';

export type InputResult<T> = { readonly success: true; readonly data: T } | { readonly success: false; readonly problem: ProblemDetails };

/**
 * Validates one part of a request with a zod schema. A failure is a 400 problem whose detail
 * names each bad field (`body/errorRate: Too big: expected number to be <=1`), never its value.
 *
 * @example
 * const query = parseInput(listQuery, request.query, 'querystring');
 * if (!query.success) return sendProblem(reply, query.problem);
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, part: InputPart): InputResult<z.output<S>> {
  const result = schema.safeParse(value);
  if (result.success) return { success: true, data: result.data };
  const fields = result.error.issues.flatMap((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${part}/${path ? `${path}.` : ''}${key}: is not a known field`);
    }
    return [`${part}${path ? `/${path}` : ''}: ${issue.message}`];
  });
  return { success: false, problem: problem(400, fields.join('; ')) };
}
