import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { InvalidCursorError } from '@crm/db';
import { problemBody, ProblemError, type FieldProblem, type ProblemCode } from './problem';

const locations: Record<string, FieldProblem['in']> = { body: 'body', querystring: 'query', params: 'params', headers: 'header' };

/** Fastify's own client errors, by code, mapped to ours. */
const fastifyCodes: Record<string, { code: ProblemCode; field?: FieldProblem }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', field: { field: 'content-type', in: 'header', message: 'must be application/json' } },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'validation_failed', field: { field: 'content-length', in: 'header', message: 'does not match the body' } },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'body_too_large', field: { field: 'body', in: 'body', message: 'is larger than the limit' } },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', field: { field: 'body', in: 'body', message: 'is empty; send a JSON object' } },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', field: { field: 'body', in: 'body', message: 'is not valid JSON' } },
};

function send(reply: FastifyReply, code: ProblemCode, detail: string, errors: readonly FieldProblem[] = []) {
  const body = problemBody(code, detail, errors);
  return reply.code(body.status).type('application/problem+json').send(body);
}

/**
 * Fastify's `frameworkErrors`: what it answers before any route or error handler runs (a URL
 * whose percent-encoding is malformed, a path parameter over `maxParamLength`), as problem+json
 * like every other error, instead of Fastify's own JSON shape (which also echoed the path).
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_BAD_URL') {
    void send(reply, 'validation_failed', 'url: has a malformed percent-encoding', [{ field: 'url', in: 'params', message: 'has a malformed percent-encoding' }]);
    return;
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    const body = problemBody('validation_failed', 'url: a path parameter is too long', [{ field: 'url', in: 'params', message: 'has a path parameter that is too long' }]);
    void reply.code(414).type('application/problem+json').send({ ...body, status: 414 });
    return;
  }
  request.log.error({ err: { name: error.name, message: error.message, code: error.code } }, 'framework error');
  void send(reply, 'internal', 'the request failed; it has been logged');
}

/**
 * Answers every error as problem+json: validation errors name each field (never echoing its
 * value); our `ProblemError`s carry their code; anything unexpected is a bare 500 (logged,
 * with no stack trace or message in the response).
 */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => send(reply, 'not_found', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`));

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const where = locations[error.validationContext ?? 'body'] ?? 'body';
      const errors = error.validation.flatMap((issue): FieldProblem[] => {
        const path = issue.instancePath.replace(/^\//, '').replace(/\//g, '.');
        const unknownKeys = (issue.params as { keys?: unknown }).keys;
        if (issue.keyword === 'unrecognized_keys' && Array.isArray(unknownKeys)) {
          return unknownKeys.map((key) => ({ field: path ? `${path}.${String(key)}` : String(key), in: where, message: 'is not a known field' }));
        }
        return [{ field: path || '(root)', in: where, message: issue.message ?? 'is not valid' }];
      });
      return send(reply, 'validation_failed', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
    }
    if (error instanceof ProblemError) return send(reply, error.code, error.message, error.errors);
    if (error instanceof InvalidCursorError) {
      return send(reply, 'validation_failed', 'cursor: is not one this API returned', [{ field: 'cursor', in: 'query', message: error.message }]);
    }
    const known = error.code ? fastifyCodes[error.code] : undefined;
    if (known) return send(reply, known.code, known.field ? `${known.field.field}: ${known.field.message}` : error.message, known.field ? [known.field] : []);
    if (error instanceof SyntaxError) {
      return send(reply, 'invalid_json', 'body: is not valid JSON', [{ field: 'body', in: 'body', message: 'is not valid JSON' }]);
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      request.log.warn({ code: error.code, statusCode: error.statusCode }, 'client error');
      const body = problemBody('validation_failed', 'the request could not be processed');
      return reply.code(error.statusCode).type('application/problem+json').send({ ...body, status: error.statusCode });
    }
    request.log.error({ err: { name: error.name, message: error.message, code: error.code } }, 'unhandled error');
    return send(reply, 'internal', 'the request failed; it has been logged');
  });
}
