import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { attachmentContentTypes, attachmentTypeNames, detectFileType, isAttachmentContentType } from '@crm/core';
import { findAttachmentSizes, saveAttachment, type Executor } from '@crm/db';
import type { IngestDeps } from '../app';
import { ProblemError } from '../problem';

/** The attachment limit when `deps.email` does not set one: 10 MiB (ATTACHMENT_MAX_TOTAL_BYTES's default). */
export const DEFAULT_ATTACHMENT_MAX_TOTAL_BYTES = 10 * 1024 * 1024;

/** Largest total size of one communication's attachments, and of one upload, in bytes. */
export const attachmentLimitOf = (deps: Pick<IngestDeps, 'email'>): number => deps.email?.attachmentMaxTotalBytes ?? DEFAULT_ATTACHMENT_MAX_TOTAL_BYTES;

/**
 * Characters a file name may not hold: `/` and `\` (a path, not a name), control characters
 * (C0, DEL, C1: header injection, invisible text) and Unicode direction controls (which can
 * make `invoice\u202Efdp.exe` read as `invoiceexe.pdf`).
 */
const FORBIDDEN_IN_FILENAME = /[/\\\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

export const UploadQuerySchema = z.strictObject({
  filename: z
    .string()
    .min(1, { message: 'must not be empty' })
    .max(200, { message: 'must be at most 200 characters' })
    .refine((name) => !FORBIDDEN_IN_FILENAME.test(name), { message: 'must not contain slashes or control characters' }),
});

const UploadedSchema = z.object({
  id: z.uuid(),
  filename: z.string(),
  contentType: z.enum(attachmentContentTypes),
  size: z.number().int(),
  sha256: z.string(),
});

const acceptedTypes = `${attachmentContentTypes.slice(0, -1).join(', ')} or ${attachmentContentTypes.at(-1)!}`;

/** `image/png; foo=bar` → `image/png`. */
const mediaTypeOf = (header: string | undefined) => (header ?? '').split(';')[0]!.trim().toLowerCase();

const unsupportedType = () =>
  new ProblemError('unsupported_media_type', `content-type: must be ${acceptedTypes}`, [
    { field: 'content-type', in: 'header', message: `must be ${acceptedTypes}` },
  ]);

/**
 * `POST /api/crm/attachments?filename=<name>`: stores the body, the file itself, and answers
 * 201 `{ id, filename, contentType, size, sha256 }`. A communication then lists the id in its
 * `attachments`. The declared `Content-Type` must be PDF, PNG or JPEG (else 415
 * `unsupported_media_type`) and the file's magic bytes must agree with it (else 415
 * `attachment_type_mismatch` naming `body`); a body over the attachment limit is refused with
 * 413 `body_too_large` before it is read whole. Files are kept in PostgreSQL, never in Redis.
 *
 * The content-type parsers are this plugin's own: the raw types are read as a Buffer up to the
 * attachment limit, and no other type (JSON included) is parsed on this route.
 */
export const attachmentRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const limit = attachmentLimitOf(deps);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...attachmentContentTypes], { parseAs: 'buffer', bodyLimit: limit }, (_request, body, done) => done(null, body));
  app.addContentTypeParser('*', (_request, _payload, done) => done(unsupportedType(), undefined));

  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/crm/attachments',
    {
      schema: {
        summary: 'Upload a PDF, PNG or JPEG to attach to emails',
        description:
          'The body is the file itself, with its `Content-Type` (`application/pdf`, `image/png` or `image/jpeg`; else 415). Its magic ' +
          'bytes must match that type (else 415 `attachment_type_mismatch`); larger than ATTACHMENT_MAX_TOTAL_BYTES is 413. ' +
          'List the answered `id` in a communication\'s `attachments`.',
        querystring: UploadQuerySchema,
        response: { 201: UploadedSchema.describe('Stored (in PostgreSQL)') },
      },
    },
    async (request, reply) => {
      const declared = mediaTypeOf(request.headers['content-type']);
      if (!isAttachmentContentType(declared)) throw unsupportedType();
      const content = request.body;
      if (!Buffer.isBuffer(content) || content.length === 0) {
        throw new ProblemError('validation_failed', "body: is empty; send the file's bytes", [{ field: 'body', in: 'body', message: "is empty; send the file's bytes" }]);
      }
      const detected = detectFileType(content);
      if (detected !== declared) {
        const message = `declared ${declared} but the content is ${detected === null ? 'not a PDF, PNG or JPEG' : `a ${attachmentTypeNames[detected]}`}`;
        throw new ProblemError('attachment_type_mismatch', `body: ${message}`, [{ field: 'body', in: 'body', message }]);
      }
      const saved = await saveAttachment(deps.db, { filename: request.query.filename, contentType: declared, content });
      request.log.debug({ attachmentId: saved.id, contentType: saved.contentType, size: saved.size }, 'attachment stored');
      return reply.code(201).send(saved);
    },
  );
};

/** One request's attachment ids and where they are in the body: `attachments`, `items.3.attachments`. */
export interface AttachmentList {
  readonly ids: readonly string[];
  readonly field: string;
}

/**
 * Checks the attachments of one or more requests with one query (no file content is read):
 * every id must be an uploaded file (else 422 `unknown_attachment` naming `<field>.<n>`), and
 * each request's files together must fit `maxTotalBytes` (else 413 `attachments_too_large`
 * naming `<field>.<n>`, the attachment at which the running total goes over). An id listed
 * twice counts twice: the email would carry it twice. Throws the first problem, in order.
 *
 * @example
 * await checkAttachments(deps.db, [{ ids: body.attachments, field: 'attachments' }], attachmentLimitOf(deps));
 */
export async function checkAttachments(db: Executor, lists: readonly AttachmentList[], maxTotalBytes: number): Promise<void> {
  const ids = lists.flatMap((list) => list.ids);
  if (ids.length === 0) return;
  const sizes = await findAttachmentSizes(db, ids);
  for (const { ids: listed, field } of lists) {
    const unknown = listed.findIndex((id) => !sizes.has(id));
    if (unknown >= 0) {
      const at = `${field}.${unknown}`;
      throw new ProblemError('unknown_attachment', `${at}: is not the id of an uploaded file; upload it with POST /api/crm/attachments first`, [
        { field: at, in: 'body', message: 'is not the id of an uploaded file' },
      ]);
    }
  }
  for (const { ids: listed, field } of lists) {
    let total = 0;
    for (const [n, id] of listed.entries()) {
      total += sizes.get(id)!.size;
      if (total > maxTotalBytes) {
        const at = `${field}.${n}`;
        const message = `brings the attachments to ${total} bytes, over the limit of ${maxTotalBytes}`;
        throw new ProblemError('attachments_too_large', `${at}: ${message}`, [{ field: at, in: 'body', message }]);
      }
    }
  }
}
