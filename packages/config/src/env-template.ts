import { variables, type VariableSpec } from './variables';

const sections: readonly [string, string][] = [
  ['NODE_ENV', 'Runtime'],
  ['DATABASE_URL', 'PostgreSQL'],
  ['REDIS_URL', 'Redis and queues'],
  ['HOST', 'HTTP server'],
  ['DB_ENCRYPTION_KEY', 'Security (secrets: no defaults; npm start generates development values)'],
  ['PROVIDER_MODE', 'Providers'],
  ['SMTP_HOST', 'SMTP (email)'],
  ['TWILIO_ACCOUNT_SID', 'Twilio (SMS); defaults point at the sandbox'],
  ['WHATSAPP_PHONE_NUMBER_ID', 'WhatsApp Cloud API; defaults point at the sandbox'],
  ['RETRY_BASE_DELAY_MS', 'Retries'],
  ['BATCH_ENABLED', 'Batching and digests'],
  ['API_RATE_LIMIT', 'HTTP API limits and the preferences cache'],
  ['SANDBOX_HOST', 'Sandbox providers (npm start and tests)'],
];

const specs = (): VariableSpec[] => Object.values(variables);

const defaultText = (spec: VariableSpec): string =>
  spec.default === undefined
    ? '(required)'
    : spec.liveDefault !== undefined
      ? `${spec.default || '(empty)'} (live: ${spec.liveDefault})`
      : spec.requiredWhenLive
        ? `${spec.default} (live: required)`
        : spec.default || '(empty)';

/** The text of `.env.template`: every variable with a one-line comment and its default. */
export function renderEnvTemplate(): string {
  const lines = [
    '# crm-engine configuration. Copy to .env (or set these in the environment) and adjust.',
    '# Generated from packages/config/src/variables.ts by `npm run env:template`; do not edit by hand.',
    '# An unset or empty variable takes its default; one without a default is required.',
    '# A secret (README table: secret = yes) may instead be read from a file: NAME_FILE=/run/secrets/name (Docker, Kubernetes).',
  ];
  for (const spec of specs()) {
    const section = sections.find(([first]) => first === spec.name);
    if (section) lines.push('', `# --- ${section[1]} ---`);
    const note = spec.requiredWhenLive ? ' (required when PROVIDER_MODE=live)' : '';
    lines.push(`# ${spec.description}${note}`);
    const value = spec.default ?? '';
    lines.push(spec.default === undefined ? `${spec.name}=` : `${spec.name}=${quote(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

const quote = (value: string): string => (/[\s"#<>]/.test(value) ? JSON.stringify(value) : value);

/** The README's configuration table (Markdown), from the same source as `.env.template`. */
export function renderConfigTable(): string {
  const rows = specs().map(
    (spec) =>
      `| \`${spec.name}\` | ${escapeCell(defaultText(spec))} | ${spec.secret ? 'yes' : ''} | ${escapeCell(spec.description)} |`,
  );
  return ['| variable | default | secret | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

const escapeCell = (text: string): string => text.replace(/\|/g, '\\|').replace(/</g, '&lt;');
