import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ConfigError, loadConfig, variables, type VariableSpec } from '@crm/config';
import { QueueName, queueNames } from '@crm/queue';
import { parseAllDocuments } from 'yaml';

// The Kubernetes manifests in infra/k8s, checked against the repository without a cluster:
// every service has a Deployment running its own image and entry point, probes hit /health and
// /ready on the port the process serves them on, every variable is one the config knows (and the
// config accepts the whole set once the Secret's placeholders are filled in), every worker is
// scaled by KEDA on a queue it consumes, every Deployment has a PodDisruptionBudget, and the
// kustomization lists every file. `kubectl kustomize` builds it where kubectl exists.

const root = join(__dirname, '..', '..');
const k8sDir = join(root, 'infra', 'k8s');

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `value[key]` as an object; throws naming `where` when it is not one. */
function objectAt(value: unknown, key: string, where: string): Json {
  const found = isObject(value) ? value[key] : undefined;
  if (!isObject(found)) throw new Error(`${where}: ${key} is not a map`);
  return found;
}

/** `value[key]` as a list of objects ([] when absent). */
function listAt(value: unknown, key: string): Json[] {
  const found = isObject(value) ? value[key] : undefined;
  if (found === undefined || found === null) return [];
  if (!Array.isArray(found) || !found.every(isObject)) throw new Error(`${key} is not a list of maps`);
  return found;
}

const stringAt = (value: unknown, key: string): string | undefined => {
  const found = isObject(value) ? value[key] : undefined;
  return typeof found === 'string' ? found : undefined;
};

/** Every .yaml/.yml file under `dir`, as paths relative to it. */
function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

interface Manifest {
  readonly file: string;
  readonly kind: string;
  readonly name: string;
  readonly body: Json;
}

const files = yamlFiles(k8sDir);
const parseProblems: string[] = [];
const manifests: Manifest[] = [];
let kustomization: Json = {};
for (const file of files) {
  for (const document of parseAllDocuments(readFileSync(join(k8sDir, file), 'utf8'))) {
    for (const error of document.errors) parseProblems.push(`${file}: ${error.message}`);
    const body: unknown = document.toJS();
    if (body === null || body === undefined) continue;
    if (!isObject(body)) {
      parseProblems.push(`${file}: a document is not a map`);
      continue;
    }
    if (file === 'kustomization.yaml') {
      kustomization = body;
      continue;
    }
    const kind = stringAt(body, 'kind');
    const name = stringAt(objectAt(body, 'metadata', file), 'name');
    if (!kind || !name) {
      parseProblems.push(`${file}: a document without kind or metadata.name`);
      continue;
    }
    manifests.push({ file, kind, name, body });
  }
}

const ofKind = (kind: string) => manifests.filter((manifest) => manifest.kind === kind);
function one(kind: string, name: string): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind && manifest.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0]!;
}

/** Directories of services/ that are workspaces: each is one process. */
const serviceNames = readdirSync(join(root, 'services'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(root, 'services', entry.name, 'package.json')))
  .map((entry) => entry.name)
  .sort();
/** What runs in a cluster: every service but the local stand-in providers. */
const deployedServices = serviceNames.filter((name) => name !== 'sandbox');
const workers = deployedServices.filter((name) => name !== 'ingest');

const podSpecOf = (manifest: Manifest): Json => objectAt(objectAt(objectAt(manifest.body, 'spec', manifest.name), 'template', manifest.name), 'spec', manifest.name);
function containerOf(manifest: Manifest): Json {
  const containers = listAt(podSpecOf(manifest), 'containers');
  if (containers.length !== 1) throw new Error(`${manifest.kind} ${manifest.name}: expected one container, found ${containers.length}`);
  return containers[0]!;
}
const argsOf = (container: Json): string =>
  [container.command, container.args].flatMap((part) => (Array.isArray(part) ? part.map(String) : [])).join(' ');

/** The data of a ConfigMap or Secret as strings (Secret: stringData, and data decoded). */
function dataOf(manifest: Manifest): Record<string, string> {
  const entries: [string, string][] = [];
  if (isObject(manifest.body.data)) {
    for (const [key, value] of Object.entries(manifest.body.data)) {
      entries.push([key, manifest.kind === 'Secret' ? Buffer.from(String(value), 'base64').toString('utf8') : String(value)]);
    }
  }
  if (manifest.kind === 'Secret' && isObject(manifest.body.stringData)) {
    for (const [key, value] of Object.entries(manifest.body.stringData)) entries.push([key, String(value)]);
  }
  return Object.fromEntries(entries);
}

/** A container's environment as the kubelet builds it: envFrom (in order), then env. */
function environmentOf(container: Json): { env: Record<string, string>; names: Set<string>; sources: Manifest[] } {
  const env: Record<string, string> = {};
  const sources: Manifest[] = [];
  for (const from of listAt(container, 'envFrom')) {
    const ref = isObject(from.configMapRef) ? { kind: 'ConfigMap', ref: from.configMapRef } : { kind: 'Secret', ref: objectAt(from, 'secretRef', 'envFrom') };
    const source = one(ref.kind, String(ref.ref.name));
    sources.push(source);
    Object.assign(env, dataOf(source));
  }
  for (const item of listAt(container, 'env')) {
    const name = String(item.name);
    if (typeof item.value === 'string') {
      env[name] = item.value;
    } else if (isObject(item.valueFrom)) {
      const ref = isObject(item.valueFrom.secretKeyRef) ? { kind: 'Secret', ref: item.valueFrom.secretKeyRef } : { kind: 'ConfigMap', ref: objectAt(item.valueFrom, 'configMapKeyRef', name) };
      const source = one(ref.kind, String(ref.ref.name));
      sources.push(source);
      const value = dataOf(source)[String(ref.ref.key)];
      if (value === undefined) throw new Error(`${name}: ${ref.kind} ${source.name} has no key ${String(ref.ref.key)}`);
      env[name] = value;
    }
  }
  return { env, names: new Set(Object.keys(env)), sources };
}

/** A probe's port as a number (a named port is looked up among the container's ports). */
function probePort(container: Json, probe: Json): number {
  const port = objectAt(probe, 'httpGet', 'probe').port;
  if (typeof port === 'number') return port;
  const named = listAt(container, 'ports').find((item) => item.name === port);
  if (!named) throw new Error(`no container port named ${String(port)}`);
  return Number(named.containerPort);
}

const secretSpecs = (Object.values(variables) as VariableSpec[]).filter((spec) => spec.secret === true);
const isConfigVariable = (name: string) =>
  name in variables || (name.endsWith('_FILE') && secretSpecs.some((spec) => `${spec.name}_FILE` === name));

const appConfigMap = one('ConfigMap', 'crm-engine-config');
const appSecret = one('Secret', 'crm-engine-secrets');
const queuePrefix = dataOf(appConfigMap).QUEUE_PREFIX ?? variables.QUEUE_PREFIX.default;

it('parses every YAML file of infra/k8s', () => {
  expect(files.length).toBeGreaterThan(1);
  expect(parseProblems).toEqual([]);
});

describe('kustomization.yaml', () => {
  it('lists every manifest file, and only existing ones', () => {
    const resources = Array.isArray(kustomization.resources) ? kustomization.resources.map(String).sort() : [];
    expect(resources).toEqual(files.filter((file) => file !== 'kustomization.yaml'));
  });

  it('puts everything in the namespace it creates', () => {
    expect(ofKind('Namespace').map((manifest) => manifest.name)).toEqual([kustomization.namespace]);
  });

  it('names the image of every Deployment, so an overlay can point it at a registry', () => {
    const images = listAt(kustomization, 'images').map((item) => String(item.name)).sort();
    const used = [...new Set(ofKind('Deployment').concat(ofKind('Job')).map((manifest) => String(containerOf(manifest).image).replace(/:[^/:]+$/, '')))].sort();
    expect(images).toEqual(used);
  });
});

describe('Deployments', () => {
  it('has one per service (all but the sandbox), named after it', () => {
    expect(ofKind('Deployment').map((manifest) => manifest.name).sort()).toEqual(deployedServices);
    expect(deployedServices).toEqual(expect.arrayContaining(['ingest', 'strategy-worker', 'email-worker', 'messaging-worker', 'analytics-worker', 'callback-worker']));
  });

  it.each(deployedServices)('%s runs the crm-engine image of its service and that service\'s main', (name) => {
    const container = containerOf(one('Deployment', name));
    expect(String(container.image)).toMatch(new RegExp(`^crm-engine/${name}(:[\\w.-]+)?$`));
    expect(existsSync(join(root, 'services', name, 'src', 'main.ts'))).toBe(true);
    // The image's CMD runs services/$SERVICE/dist/main.js; the manifest says the same explicitly.
    expect(argsOf(container)).toBe(`node services/${name}/dist/main.js`);
  });

  it.each(deployedServices)('%s probes /health (startup, liveness) and /ready (readiness) on the port it serves them on', (name) => {
    const container = containerOf(one('Deployment', name));
    const { env } = environmentOf(container);
    // Ingest serves them on PORT; a worker on its ops server, OPS_PORT (0 would be a random port).
    const port = Number(name === 'ingest' ? (env.PORT ?? variables.PORT.default) : (env.OPS_PORT ?? variables.OPS_PORT.default));
    expect(port).toBeGreaterThan(0);
    expect(env.HOST).toBe('0.0.0.0');
    const probe = (key: string) => objectAt(container, key, `${name} container`);
    for (const [key, path] of [['livenessProbe', '/health'], ['readinessProbe', '/ready'], ['startupProbe', '/health']] as const) {
      expect({ key, path: objectAt(probe(key), 'httpGet', key).path, port: probePort(container, probe(key)) }).toEqual({ key, path, port });
    }
  });

  it.each(deployedServices)('%s runs as non-root, read-only, without privileges, within resource limits', (name) => {
    const manifest = one('Deployment', name);
    const pod = podSpecOf(manifest);
    const container = containerOf(manifest);
    const podSecurity = objectAt(pod, 'securityContext', name);
    expect(podSecurity.runAsNonRoot).toBe(true);
    // A numeric user: the image's USER is `node`, which the kubelet cannot check as non-root.
    expect(podSecurity.runAsUser).toEqual(expect.any(Number));
    expect(podSecurity.runAsUser).not.toBe(0);
    const security = objectAt(container, 'securityContext', name);
    expect(security).toEqual(expect.objectContaining({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }));
    const resources = objectAt(container, 'resources', name);
    for (const key of ['requests', 'limits']) expect(Object.keys(objectAt(resources, key, name)).sort()).toEqual(['cpu', 'memory']);
  });

  it.each(deployedServices)('%s has a termination grace period longer than the graceful shutdown', (name) => {
    // onShutdown gives up after its timeoutMs default (packages/queue/src/shutdown.ts).
    const source = readFileSync(join(root, 'packages', 'queue', 'src', 'shutdown.ts'), 'utf8');
    const match = /timeoutMs = ([\d_]+)/.exec(source);
    expect(match).not.toBeNull();
    const shutdownSeconds = Number(match![1]!.replace(/_/g, '')) / 1000;
    const pod = podSpecOf(one('Deployment', name));
    const lifecycle = containerOf(one('Deployment', name)).lifecycle;
    const preStop = JSON.stringify(isObject(lifecycle) ? (lifecycle.preStop ?? null) : null);
    const preStopSeconds = Number(/"sleep","(\d+)"/.exec(preStop)?.[1] ?? 0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(shutdownSeconds + preStopSeconds);
  });

  it.each(deployedServices)('%s has a PodDisruptionBudget selecting its pods', (name) => {
    const labels = objectAt(objectAt(objectAt(one('Deployment', name).body, 'spec', name), 'template', name), 'metadata', name).labels;
    const budgets = ofKind('PodDisruptionBudget').filter((budget) => {
      const matchLabels = objectAt(objectAt(budget.body, 'spec', budget.name), 'selector', budget.name).matchLabels;
      return isObject(matchLabels) && isObject(labels) && Object.entries(matchLabels).every(([key, value]) => labels[key] === value);
    });
    expect(budgets.map((budget) => budget.name)).toEqual([name]);
    const spec = objectAt(budgets[0]!.body, 'spec', name);
    // maxUnavailable, not minAvailable: a worker with one replica must not block node drains.
    expect(spec.maxUnavailable).toBe(1);
  });

  it('exposes ingest through a Service on its port, and each worker\'s ops port through a headless one', () => {
    const ingest = objectAt(one('Service', 'ingest').body, 'spec', 'ingest');
    expect(listAt(ingest, 'ports').map((port) => [port.port, port.targetPort])).toEqual([[Number(dataOf(appConfigMap).PORT), 'http']]);
    for (const name of workers) {
      const spec = objectAt(one('Service', name).body, 'spec', name);
      expect({ name, clusterIP: spec.clusterIP, ports: listAt(spec, 'ports').map((port) => port.port) }).toEqual({ name, clusterIP: 'None', ports: [Number(dataOf(appConfigMap).OPS_PORT)] });
    }
  });
});

describe('configuration', () => {
  const podManifests = () => ofKind('Deployment').concat(ofKind('Job'));

  it('sets only variables that packages/config knows (a secret may be NAME_FILE)', () => {
    const unknown: string[] = [];
    for (const manifest of podManifests()) {
      const { names, sources } = environmentOf(containerOf(manifest));
      for (const name of names) if (!isConfigVariable(name)) unknown.push(`${manifest.name}: ${name}`);
      for (const source of sources) for (const key of Object.keys(dataOf(source))) if (!isConfigVariable(key)) unknown.push(`${source.kind} ${source.name}: ${key}`);
    }
    expect(unknown).toEqual([]);
  });

  it('keeps every secret in the Secret, none in the ConfigMap, and ships placeholders only', () => {
    const settings = dataOf(appConfigMap);
    expect(secretSpecs.map((spec) => spec.name).filter((name) => name in settings)).toEqual([]);
    const secrets = dataOf(appSecret);
    expect(Object.keys(secrets).sort()).toEqual(secretSpecs.map((spec) => spec.name).sort());
    for (const [name, value] of Object.entries(secrets)) expect({ name, value }).toEqual({ name, value: expect.stringMatching(/^(REPLACE_ME)?$/) });
  });

  it('provides every secret the config requires (in live mode, the provider credentials too)', () => {
    const live = dataOf(appConfigMap).PROVIDER_MODE === 'live';
    const required = secretSpecs.filter((spec) => spec.default === undefined || (live && spec.requiredWhenLive === true));
    expect(required.map((spec) => spec.name)).toEqual(expect.arrayContaining(['DB_ENCRYPTION_KEY', 'BLIND_INDEX_KEY']));
    for (const name of deployedServices) {
      const { names } = environmentOf(containerOf(one('Deployment', name)));
      const missing = required.filter((spec) => !names.has(spec.name) && !names.has(`${spec.name}_FILE`)).map((spec) => spec.name);
      expect({ name, missing }).toEqual({ name, missing: [] });
      // The database and Redis of the cluster, never the defaults of a developer's machine.
      expect(names.has('DATABASE_URL') && names.has('REDIS_URL')).toBe(true);
    }
  });

  /** Each service's environment with the Secret's placeholders filled in with valid values. */
  const filledIn = (env: Record<string, string>): Record<string, string> => {
    const values: Record<string, string> = {
      DATABASE_URL: 'postgres://crm:password@postgres.example.com:5432/crm?sslmode=verify-full',
      REDIS_URL: 'rediss://:password@redis.example.com:6380',
    };
    return Object.fromEntries(
      Object.entries(env).map(([name, value]) => [name, value === 'REPLACE_ME' ? (values[name] ?? `${name.toLowerCase()}-0123456789abcdef0123456789abcdef`) : value]),
    );
  };

  it.each(deployedServices)('%s: the config accepts the settings once the secrets are filled in, and refuses the template as it is', (name) => {
    const { env } = environmentOf(containerOf(one('Deployment', name)));
    expect(() => loadConfig(filledIn(env))).not.toThrow();
    let issues: string[] = [];
    try {
      loadConfig(env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      issues = error.issues.map((issue) => issue.variable);
    }
    // Started with the placeholders, a pod exits 78 naming them instead of running.
    expect(issues).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'DB_ENCRYPTION_KEY', 'BLIND_INDEX_KEY']));
  });

  it('runs in production mode, against the real providers, with a fixed ops port', () => {
    const settings = dataOf(appConfigMap);
    expect([settings.NODE_ENV, settings.PROVIDER_MODE, settings.HOST]).toEqual(['production', 'live', '0.0.0.0']);
    expect(Number(settings.OPS_PORT)).toBeGreaterThan(0);
    // Hash-tagged, so that a queue's keys share one Redis Cluster slot.
    expect(queuePrefix).toMatch(/^\{[^{}]+\}$/);
  });
});

describe('KEDA', () => {
  it.each(workers)('%s is scaled by a ScaledObject on the BullMQ wait lists of queues it consumes', (name) => {
    const scaled = ofKind('ScaledObject').filter((manifest) => stringAt(objectAt(objectAt(manifest.body, 'spec', manifest.name), 'scaleTargetRef', manifest.name), 'name') === name);
    expect(scaled.map((manifest) => manifest.name)).toEqual([name]);
    const spec = objectAt(scaled[0]!.body, 'spec', name);
    expect(stringAt(objectAt(spec, 'scaleTargetRef', name), 'kind') ?? 'Deployment').toBe('Deployment');
    // At least one replica: delayed and retried jobs are moved to the wait list by a worker.
    expect(spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(spec.maxReplicaCount).toBeGreaterThan(spec.minReplicaCount as number);
    // A Deployment scaled by the HPA leaves replicas to it (an apply would otherwise reset them).
    expect(objectAt(one('Deployment', name).body, 'spec', name).replicas).toBeUndefined();

    const triggers = listAt(spec, 'triggers');
    expect(triggers.length).toBeGreaterThan(0);
    const source = readdirSync(join(root, 'services', name, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
      .map((file) => readFileSync(join(root, 'services', name, 'src', file), 'utf8'))
      .join('\n');
    for (const trigger of triggers) {
      expect(trigger.type).toBe('redis');
      const metadata = objectAt(trigger, 'metadata', name);
      const match = /^(.+):([^:]+):wait$/.exec(String(metadata.listName));
      expect(match).not.toBeNull();
      const [, prefix, queue] = match!;
      expect({ listName: metadata.listName, prefix }).toEqual({ listName: metadata.listName, prefix: queuePrefix });
      expect(queueNames).toContain(queue);
      // The service's code names that queue (QueueName.<key>): it consumes (or at least uses) it.
      const key = Object.entries(QueueName).find(([, value]) => value === queue)![0];
      expect({ queue, used: source.includes(`QueueName.${key}`) }).toEqual({ queue, used: true });
      expect(Number(metadata.listLength)).toBeGreaterThan(0);
      // Redis credentials come from a TriggerAuthentication, never from the manifest.
      expect(metadata.password).toBeUndefined();
      const auth = one('TriggerAuthentication', String(objectAt(trigger, 'authenticationRef', name).name));
      for (const ref of listAt(objectAt(auth.body, 'spec', auth.name), 'secretTargetRef')) {
        expect(dataOf(one('Secret', String(ref.name)))).toHaveProperty([String(ref.key)]);
      }
    }
  });

  it('has no ScaledObject for anything but a worker Deployment', () => {
    const targets = ofKind('ScaledObject').map((manifest) => stringAt(objectAt(objectAt(manifest.body, 'spec', manifest.name), 'scaleTargetRef', manifest.name), 'name'));
    expect(targets.sort()).toEqual(workers);
  });
});

describe('migration Job', () => {
  it('runs node scripts/dist/migrate.js from a service image, with the database URL from the Secret', () => {
    const jobs = ofKind('Job');
    expect(jobs.length).toBe(1);
    const container = containerOf(jobs[0]!);
    expect(argsOf(container)).toBe('node scripts/dist/migrate.js');
    expect(existsSync(join(root, 'scripts', 'src', 'migrate.ts'))).toBe(true);
    const image = /^crm-engine\/([a-z-]+)(:[\w.-]+)?$/.exec(String(container.image));
    expect(image).not.toBeNull();
    expect(deployedServices).toContain(image![1]);
    const { env } = environmentOf(container);
    expect(env.DATABASE_URL).toBe(dataOf(appSecret).DATABASE_URL);
    const pod = podSpecOf(jobs[0]!);
    expect(pod.restartPolicy).toBe('Never');
    expect(objectAt(pod, 'securityContext', 'job')).toEqual(expect.objectContaining({ runAsNonRoot: true, runAsUser: expect.any(Number) }));
    expect(objectAt(container, 'securityContext', 'job').readOnlyRootFilesystem).toBe(true);
  });
});

// `kubectl kustomize` builds the kustomization as `kubectl apply -k` would (no cluster needed).
const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 30_000 });
const withKubectl = kubectl.error === undefined && kubectl.status === 0 ? describe : describe.skip;

withKubectl('kubectl kustomize', () => {
  it('builds every object, in the crm-engine namespace', () => {
    const result = spawnSync('kubectl', ['kustomize', k8sDir], { encoding: 'utf8', timeout: 60_000 });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    const built = parseAllDocuments(result.stdout).map((document) => document.toJS() as Json);
    expect(built.length).toBe(manifests.length);
    for (const object of built) {
      const metadata = objectAt(object, 'metadata', 'built object');
      if (object.kind !== 'Namespace') expect({ name: metadata.name, namespace: metadata.namespace }).toEqual({ name: metadata.name, namespace: 'crm-engine' });
    }
  });
});
