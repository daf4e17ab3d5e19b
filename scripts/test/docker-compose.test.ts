import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readEnvironment, variables } from '@crm/config';
import { parse } from 'yaml';

// The production packaging: the Dockerfile and docker-compose.yml at the root. No Docker engine is
// needed: the files are read and checked against the repository (every service has a container,
// every variable is one the config knows); `docker compose config` validates the file where the
// docker CLI with its compose plugin exists.

const root = join(__dirname, '..', '..');

/** Directories of services/ that are workspaces: each is one process, one container. */
const serviceNames = readdirSync(join(root, 'services'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(root, 'services', entry.name, 'package.json')))
  .map((entry) => entry.name)
  .sort();

// --- docker-compose.yml ----------------------------------------------------------------------

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as unknown;
if (!isObject(compose) || !isObject(compose.services)) throw new Error('docker-compose.yml has no services');
const composeServices = compose.services;

function service(name: string): Json {
  const found = composeServices[name];
  if (!isObject(found)) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

/** `KEY: value` and `- KEY=value` lists both mean a map of strings. */
function keyValues(value: unknown): Record<string, string | null> {
  if (value === undefined || value === null) return {};
  if (Array.isArray(value)) {
    return Object.fromEntries(
      value.map((item) => {
        const text = String(item);
        const at = text.indexOf('=');
        return at < 0 ? [text, null] : [text.slice(0, at), text.slice(at + 1)];
      }),
    );
  }
  if (isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, item === null ? null : String(item)]));
  }
  throw new Error(`not a map or list: ${JSON.stringify(value)}`);
}

const environmentOf = (name: string) => keyValues(service(name).environment);

function buildOf(name: string): { context: string; dockerfile: string; args: Record<string, string | null> } | null {
  const build = service(name).build;
  if (build === undefined) return null;
  if (typeof build === 'string') return { context: build, dockerfile: 'Dockerfile', args: {} };
  if (!isObject(build)) throw new Error(`${name}: build is neither a path nor a map`);
  return {
    context: typeof build.context === 'string' ? build.context : '.',
    dockerfile: typeof build.dockerfile === 'string' ? build.dockerfile : 'Dockerfile',
    args: keyValues(build.args),
  };
}

/** depends_on as a map of service → condition (a plain list means service_started). */
function dependenciesOf(name: string): Record<string, string> {
  const dependsOn = service(name).depends_on;
  if (dependsOn === undefined) return {};
  if (Array.isArray(dependsOn)) return Object.fromEntries(dependsOn.map((item) => [String(item), 'service_started']));
  if (!isObject(dependsOn)) throw new Error(`${name}: depends_on is neither a list nor a map`);
  return Object.fromEntries(
    Object.entries(dependsOn).map(([key, item]) => [key, isObject(item) && typeof item.condition === 'string' ? item.condition : 'service_started']),
  );
}

/** A command or healthcheck as one string, whichever form it is written in. */
const asText = (value: unknown): string => (Array.isArray(value) ? value.map(String).join(' ') : String(value ?? ''));

/** Compose services that run one of services/ (their image is built with SERVICE=<name>). */
const appServices = Object.keys(composeServices).filter((name) => {
  const build = buildOf(name);
  return build !== null && typeof build.args.SERVICE === 'string' && build.args.SERVICE !== '';
});

// --- Dockerfile --------------------------------------------------------------------------------

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}
interface Stage {
  readonly name: string | null;
  readonly from: string;
  readonly instructions: readonly Instruction[];
}

/** Instructions of a Dockerfile: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): { globalArgs: Record<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && pending === '')) continue;
    if (trimmed.endsWith('\\')) {
      pending += `${trimmed.slice(0, -1)} `;
      continue;
    }
    const full = (pending + trimmed).trim();
    pending = '';
    const match = /^(\S+)\s*(.*)$/.exec(full);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]! });
  }
  const globalArgs: Record<string, string> = {};
  const stages: { name: string | null; from: string; instructions: Instruction[] }[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.replace(/--\S+\s+/g, '').split(/\s+/);
      stages.push({ name: as?.toUpperCase() === 'AS' && name ? name : null, from: image, instructions: [] });
    } else if (stages.length === 0) {
      const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/.exec(`${instruction.keyword} ${instruction.args}`);
      if (arg) globalArgs[arg[1]!] = arg[2]!;
    } else {
      stages[stages.length - 1]!.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

const dockerfile = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const runtimeStage = dockerfile.stages[dockerfile.stages.length - 1];
const inStage = (stage: Stage | undefined, keyword: string) => stage?.instructions.filter((item) => item.keyword === keyword) ?? [];
const expandArgs = (text: string) => text.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (all, name: string) => dockerfile.globalArgs[name] ?? all);
/** `services/${SERVICE}/dist/main.js`, also as `$SERVICE` or `${SERVICE:?message}`. */
const serviceEntryPoint = /services\/\$(?:SERVICE\b|\{SERVICE(?::?[?-][^}]*)?\})\/dist\/main\.js/;

describe('Dockerfile', () => {
  it('builds in a build stage: npm ci, npm run build, then drops dev dependencies', () => {
    const build = dockerfile.stages.find((stage) => stage.name === 'build');
    expect(build).toBeDefined();
    const runs = inStage(build, 'RUN').map((item) => item.args);
    const ci = runs.findIndex((command) => /\bnpm ci\b/.test(command));
    const compile = runs.findIndex((command) => /\bnpm run build\b/.test(command));
    const prune = runs.findIndex((command) => /\bnpm prune --omit=dev\b/.test(command));
    expect([ci, compile, prune].every((index) => index >= 0)).toBe(true);
    expect(ci).toBeLessThan(compile);
    expect(compile).toBeLessThan(prune);
    expect(runs.some((command) => command.includes('npm install -g npm@11'))).toBe(true);
  });

  it('runs on node:20-bookworm-slim, in production mode, as a non-root user', () => {
    expect(runtimeStage).toBeDefined();
    expect(expandArgs(runtimeStage!.from)).toBe('node:20-bookworm-slim');
    const users = inStage(runtimeStage, 'USER').map((item) => item.args.trim());
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0', '0:0']).not.toContain(users[users.length - 1]);
    expect(inStage(runtimeStage, 'ENV').some((item) => /\bNODE_ENV[= ]production\b/.test(item.args))).toBe(true);
  });

  it('copies only build output into the runtime stage, no sources from the context', () => {
    const copies = inStage(runtimeStage, 'COPY').concat(inStage(runtimeStage, 'ADD'));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) expect(copy.args).toMatch(/--from=/);
  });

  it('starts services/${SERVICE}/dist/main.js, with SERVICE a build argument kept for run time', () => {
    expect(inStage(runtimeStage, 'ARG').some((item) => /^SERVICE\b/.test(item.args))).toBe(true);
    expect(inStage(runtimeStage, 'ENV').some((item) => /^SERVICE[= ]\$\{?SERVICE\}?/.test(item.args))).toBe(true);
    const start = inStage(runtimeStage, 'ENTRYPOINT').concat(inStage(runtimeStage, 'CMD')).map((item) => item.args).join(' ');
    expect(start).toMatch(serviceEntryPoint);
    // node must receive SIGTERM: exec replaces the shell, or an init (tini) forwards it.
    expect(start).toMatch(/\bexec node\b|tini/);
  });

  it('has a .dockerignore that keeps installs, build output, git and local secrets out of the context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split(/\r?\n/).map((line) => line.trim());
    for (const pattern of ['**/node_modules', '**/dist', '.git', '.env', '**/*.tsbuildinfo']) expect(ignored).toContain(pattern);
  });
});

describe('docker-compose.yml', () => {
  it('has one container per service directory, built from the Dockerfile with SERVICE=<name>', () => {
    expect(serviceNames.length).toBeGreaterThan(0);
    for (const name of serviceNames) {
      expect(existsSync(join(root, 'services', name, 'src', 'main.ts'))).toBe(true);
      const build = buildOf(name);
      expect({ name, build }).toEqual({ name, build: expect.objectContaining({ dockerfile: 'Dockerfile' }) });
      expect(resolve(root, build!.context)).toBe(root);
      expect(build!.args.SERVICE).toBe(name);
    }
    // And no container runs a service that no longer exists.
    expect(appServices.sort()).toEqual(serviceNames);
  });

  it('gives every app container the database, Redis and both keys, required from the host', () => {
    for (const name of appServices) {
      const env = environmentOf(name);
      expect({ name, DATABASE_URL: env.DATABASE_URL }).toEqual({ name, DATABASE_URL: expect.stringMatching(/^postgres(ql)?:\/\/.+@postgres:5432\//) });
      expect({ name, REDIS_URL: env.REDIS_URL }).toEqual({ name, REDIS_URL: expect.stringMatching(/^redis:\/\/redis:6379/) });
      expect(env.NODE_ENV).toBe('production');
      // `${VAR:?message}`: compose refuses to start when the host does not set it.
      expect(env.DB_ENCRYPTION_KEY).toMatch(/^\$\{DB_ENCRYPTION_KEY:\?[^}]+\}$/);
      expect(env.BLIND_INDEX_KEY).toMatch(/^\$\{BLIND_INDEX_KEY:\?[^}]+\}$/);
    }
  });

  it('sets only variables that packages/config knows', () => {
    const known = new Set(Object.keys(variables));
    for (const name of [...appServices, 'migrate']) {
      const unknown = Object.keys(environmentOf(name)).filter((variable) => !known.has(variable));
      expect({ name, unknown }).toEqual({ name, unknown: [] });
    }
  });

  it('starts the app containers after the migrations have finished and Redis is healthy', () => {
    for (const name of appServices) {
      expect({ name, depends: dependenciesOf(name) }).toEqual({
        name,
        depends: expect.objectContaining({ migrate: 'service_completed_successfully', redis: 'service_healthy' }),
      });
    }
  });

  it('runs the migrations once, from the same image, after PostgreSQL is healthy', () => {
    const migrate = service('migrate');
    expect(buildOf('migrate')).toEqual(expect.objectContaining({ dockerfile: 'Dockerfile' }));
    expect(resolve(root, buildOf('migrate')!.context)).toBe(root);
    expect(asText(migrate.command)).toMatch(/\bnode scripts\/dist\/migrate\.js\b/);
    expect(migrate.restart).toBe('no');
    expect(dependenciesOf('migrate')).toEqual(expect.objectContaining({ postgres: 'service_healthy' }));
    expect(environmentOf('migrate').DATABASE_URL).toBe(environmentOf(appServices[0]!).DATABASE_URL);
    expect(existsSync(join(root, 'scripts', 'src', 'migrate.ts'))).toBe(true);
  });

  it('gives PostgreSQL and Redis healthchecks and volumes; Redis keeps an append-only file', () => {
    for (const name of ['postgres', 'redis']) {
      const healthcheck = service(name).healthcheck;
      expect(isObject(healthcheck) && healthcheck.disable !== true && asText(healthcheck.test) !== '').toBe(true);
      expect(service(name).volumes).toEqual([expect.stringMatching(/^[a-z][a-z0-9_-]*:\//)]);
    }
    expect(asText((service('postgres').healthcheck as Json).test)).toContain('pg_isready');
    expect(asText(service('redis').command)).toMatch(/--appendonly yes/);
    expect(Object.keys(isObject(compose.volumes) ? compose.volumes : {})).toEqual(expect.arrayContaining(['postgres-data', 'redis-data']));
  });

  it('publishes ingest on 0.0.0.0:3000 and checks its /health with node (no curl in the image)', () => {
    const env = environmentOf('ingest');
    expect(env.HOST).toBe('0.0.0.0');
    expect(env.PORT ?? variables.PORT.default).toBe('3000');
    expect((service('ingest').ports as unknown[]).map(String)).toContain('3000:3000');
    const test = asText((service('ingest').healthcheck as Json).test);
    expect(test).toMatch(/^CMD node -e .*fetch\('http:\/\/127\.0\.0\.1:3000\/health'\)/);
  });

  it('runs the sandbox on 0.0.0.0 inside the network, published on loopback only, and points SMTP at it', () => {
    const env = environmentOf('sandbox');
    expect(env.SANDBOX_HOST).toBe('0.0.0.0');
    const ports = (service('sandbox').ports as unknown[]).map(String);
    expect(ports.sort()).toEqual(['127.0.0.1:2525:2525', '127.0.0.1:4010:4010']);
    expect(asText((service('sandbox').healthcheck as Json).test)).toContain("fetch('http://127.0.0.1:4010/health')");
    const email = environmentOf('email-worker');
    expect([email.SMTP_HOST, email.SMTP_PORT]).toEqual(['sandbox', '2525']);
  });

  it('keeps the Dockerfile entry point and the compose command in step', () => {
    // App containers use the image's CMD; only the one-shot migrate overrides it.
    for (const name of appServices) expect({ name, command: service(name).command }).toEqual({ name, command: undefined });
  });
});

// `docker compose config` checks the file against the Compose specification and resolves the
// interpolation; it needs the docker CLI and its compose plugin, not an engine.
const composeVersion = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 30_000 });
const haveCompose = composeVersion.error === undefined && composeVersion.status === 0;
const withCompose = haveCompose ? describe : describe.skip;

withCompose('docker compose config', () => {
  let dir: string;
  let emptyEnvFile: string;
  beforeAll(() => {
    // An empty env file instead of a developer's .env, so the results do not depend on it.
    dir = mkdtempSync(join(tmpdir(), 'crm-compose-'));
    emptyEnvFile = join(dir, 'empty.env');
    writeFileSync(emptyEnvFile, '');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const config = (keys: Record<string, string>) => {
    const env: Record<string, string | undefined> = { ...readEnvironment() };
    delete env.DB_ENCRYPTION_KEY;
    delete env.BLIND_INDEX_KEY;
    Object.assign(env, keys);
    return spawnSync('docker', ['compose', '--env-file', emptyEnvFile, '-f', join(root, 'docker-compose.yml'), 'config', '-q'], {
      cwd: root,
      env: env as NodeJS.ProcessEnv,
      encoding: 'utf8',
      timeout: 60_000,
    });
  };

  it('accepts the file when both keys are set', () => {
    const result = config({ DB_ENCRYPTION_KEY: 'e'.repeat(32), BLIND_INDEX_KEY: 'b'.repeat(32) });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('refuses to start without DB_ENCRYPTION_KEY', () => {
    const result = config({ BLIND_INDEX_KEY: 'b'.repeat(32) });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('DB_ENCRYPTION_KEY');
  });
});
