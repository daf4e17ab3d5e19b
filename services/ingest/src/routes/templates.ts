import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { TemplateStore } from '@crm/delivery';
import { emailTemplateTypes, loadEmailTemplateSources, validateHtml } from '@crm/templates';
import type { IngestDeps } from '../app';

const ParamsSchema = z.strictObject({
  type: z.enum(emailTemplateTypes as unknown as [string, ...string[]], { message: `must be one of ${emailTemplateTypes.join(', ')}` }),
});
const QuerySchema = z.strictObject({
  channel: z.enum(['email'], { message: 'only email has templates so far (SMS and WhatsApp text comes with the messaging issue)' }).default('email'),
  /** `html`: answer the rendered HTML itself, to open in a browser. */
  format: z.enum(['json', 'html']).default('json'),
});

/**
 * `GET /api/crm/templates/:type/preview?channel=email`: the current version of a template
 * rendered with its sample data (subject, HTML, text), with the result of validate_html; with
 * `format=html` the HTML alone. Renders through the same store the email worker uses; if no
 * version was published yet (the email worker seeds them), this route seeds them first.
 */
export const templateRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const store = deps.templates ?? new TemplateStore({ db: deps.db, logger: deps.logger });
  const samples = new Map(loadEmailTemplateSources().map((source) => [source.messageType, source.sampleVariables]));
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/crm/templates/:type/preview',
    {
      schema: {
        summary: 'An email template rendered with its sample data',
        description: 'The current version: subject, HTML, text and the result of the HTML checks as JSON; with `format=html` the HTML page alone (text/html).',
        params: ParamsSchema,
        querystring: QuerySchema,
        response: { 200: { description: 'JSON (`messageType`, `channel`, `version`, `subject`, `text`, `html`, `validation`), or with `format=html` the page', content: { 'text/html': { schema: z.unknown() } } } },
      },
    },
    async (request, reply) => {
      const type = request.params.type as (typeof emailTemplateTypes)[number];
      const resolved = await store.get(type).catch(async () => {
        await store.seed();
        return store.get(type);
      });
      const base = 'https://preview.invalid';
      const rendered = resolved.compiled.render(samples.get(type) ?? {}, { unsubscribeUrl: `${base}/u/preview`, postalAddress: 'Event Planner, 1 Example Street, Springfield, USA' });
      if (request.query.format === 'html') return reply.type('text/html; charset=utf-8').send(rendered.html);
      return {
        messageType: type,
        channel: 'email',
        version: resolved.version.version,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        validation: validateHtml(rendered.html),
      };
    },
  );
};
