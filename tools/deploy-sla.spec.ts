/**
 * Checks every Oakestra SLA in deploy/oakestra/*.sla.json against Oakestra's SLA v2.0 rules and
 * against the code: each FLOps variable an SLA sets must be a property of the config class of the
 * app it configures (and pass that class's validation), and each service IP an SLA's URLs use
 * must be some microservice's `addresses.rr_ip`. So the SLAs cannot drift from the apps.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join, resolve } from 'node:path';
import { loadConfig } from '@flops/config';
import { PlatformEnvironment } from '@flops/contracts';
import { AggregatorConfig } from '../apps/aggregator/src/config';
import { BuilderConfig } from '../apps/builder-agent/src/config';
import { LearnerConfig } from '../apps/learner/src/config';
import { ManagerConfig } from '../apps/manager-api/src/config';
import { OrchestratorConfig } from '../apps/project-orchestrator/src/config';
import { UiGatewayConfig } from '../apps/ui-gateway/src/config';

const ROOT = resolve(__dirname, '..');
const SLA_DIR = join(ROOT, 'deploy/oakestra');

/** The config class of each app a FLOps container can run (FLOPS_APP = folder under apps/). */
const CONFIG_OF: Record<string, new () => PlatformEnvironment> = {
  'manager-api': ManagerConfig,
  'project-orchestrator': OrchestratorConfig,
  'builder-agent': BuilderConfig,
  'ui-gateway': UiGatewayConfig,
  aggregator: AggregatorConfig,
  learner: LearnerConfig,
};

/**
 * Read by the images' entrypoint (deploy/containers/Containerfile.*), not by a config class: it
 * picks the app. Every other FLOPS_* variable must be a config-class property.
 */
const IMAGE_VARIABLES = ['FLOPS_APP'];

/** Oakestra names: letters and digits only (anything else breaks its networking), and short. */
const NAME = /^[A-Za-z0-9]{1,30}$/;
const ENV_ENTRY = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;
/** Oakestra's `port`: "", "8080", "8080:80" or "8080:80/tcp". */
const PORT = /^(\d{1,5}(:\d{1,5})?(\/(tcp|udp))?)?$/;

interface Microservice {
  microservice_name?: unknown;
  microservice_namespace?: unknown;
  virtualization?: unknown;
  code?: unknown;
  cmd?: unknown;
  memory?: unknown;
  vcpus?: unknown;
  port?: unknown;
  one_shot?: unknown;
  environment?: unknown;
  addresses?: { rr_ip?: unknown };
}

interface Application {
  application_name?: unknown;
  application_namespace?: unknown;
  microservices?: Microservice[];
}

interface Sla {
  sla_version?: unknown;
  customerID?: unknown;
  applications?: Application[];
}

const isFlopsVariable = (key: string): boolean => key.startsWith('FLOPS_') || key === 'MONGO_URL';

function environmentOf(ms: Microservice): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of (ms.environment as string[] | undefined) ?? []) {
    const match = ENV_ENTRY.exec(entry);
    if (match) env.set(match[1], match[2]);
  }
  return env;
}

function microservicesOf(sla: Sla): Microservice[] {
  return (sla.applications ?? []).flatMap((app) => app.microservices ?? []);
}

/** Hosts of the URLs (scheme://host[:port]…) in a value. */
function urlHosts(value: string): string[] {
  return [...value.matchAll(/[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/\s]*@)?(\[[^\]]*\]|[^/:?#\s,]+)/g)].map((m) => m[1]);
}

/** A reference containerd can pull as is: an explicit registry host, a path, and a tag or digest. */
function isFullyQualifiedImage(ref: string): boolean {
  const [first, ...rest] = ref.split('/');
  const hasRegistry = first.includes('.') || first.includes(':') || first === 'localhost';
  const last = rest[rest.length - 1] ?? '';
  return hasRegistry && rest.length > 0 && (last.includes(':') || ref.includes('@sha256:'));
}

const files = existsSync(SLA_DIR) ? readdirSync(SLA_DIR).filter((f) => f.endsWith('.sla.json')).sort() : [];
const slas = files.map((file) => ({ file, sla: JSON.parse(readFileSync(join(SLA_DIR, file), 'utf8')) as Sla }));

/** Every service IP declared by any SLA (URLs may point across applications). */
const declaredRrIps = new Set(slas.flatMap(({ sla }) => microservicesOf(sla).map((ms) => ms.addresses?.rr_ip).filter((ip): ip is string => typeof ip === 'string')));

describe('Oakestra SLAs in deploy/oakestra', () => {
  it('has at least one *.sla.json', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('gives each service IP to one microservice only', () => {
    const all = slas.flatMap(({ sla }) => microservicesOf(sla).map((ms) => ms.addresses?.rr_ip).filter(Boolean));
    expect(all.length).toBe(new Set(all).size);
  });

  it('the platform image runs the compiled app named by FLOPS_APP (the build output of its Nx build target)', () => {
    const containerfile = readFileSync(join(ROOT, 'deploy/containers/Containerfile.platform'), 'utf8');
    expect(containerfile).toContain('node \\"dist/apps/${FLOPS_APP}/main.cjs\\"');
    const build = JSON.parse(readFileSync(join(ROOT, 'apps/manager-api/project.json'), 'utf8')).targets.build.options;
    expect(`${build.outputPath}/main.cjs`).toBe('dist/apps/manager-api/main.cjs');
  });

  const none: Sla = {};
  describe.each(slas.length ? slas : [{ file: '(none)', sla: none }])('$file', ({ sla }) => {
    const applications = sla.applications ?? [];
    const microservices = microservicesOf(sla);

    it('has the required top-level fields of SLA v2.0', () => {
      expect(sla.sla_version).toBe('v2.0');
      expect(typeof sla.customerID).toBe('string');
      expect(sla.customerID).not.toBe('');
      expect(Array.isArray(sla.applications)).toBe(true);
      expect(applications.length).toBeGreaterThan(0);
    });

    it('names every application and gives it microservices', () => {
      for (const app of applications) {
        expect(app.application_name).toMatch(NAME);
        expect(app.application_namespace).toMatch(NAME);
        expect(Array.isArray(app.microservices)).toBe(true);
        expect(app.microservices!.length).toBeGreaterThan(0);
        const names = app.microservices!.map((ms) => ms.microservice_name);
        expect(new Set(names).size).toBe(names.length);
      }
    });

    it.each(microservices.map((ms) => [String(ms.microservice_name), ms] as const))('%s: required fields and formats', (_name, ms) => {
      expect(ms.microservice_name).toMatch(NAME);
      expect(ms.microservice_namespace).toMatch(NAME);
      expect(ms.virtualization).toBe('container');
      expect(typeof ms.code).toBe('string');
      expect(isFullyQualifiedImage(ms.code as string)).toBe(true);
      for (const field of ['memory', 'vcpus'] as const) {
        if (ms[field] !== undefined) {
          expect(Number.isInteger(ms[field])).toBe(true);
          expect(ms[field] as number).toBeGreaterThan(0);
        }
      }
      if (ms.port !== undefined) expect(ms.port).toMatch(PORT);
      if (ms.one_shot !== undefined) expect(typeof ms.one_shot).toBe('boolean');
      if (ms.cmd !== undefined) {
        expect(Array.isArray(ms.cmd)).toBe(true);
        for (const arg of ms.cmd as unknown[]) expect(typeof arg).toBe('string');
      }
      if (ms.addresses?.rr_ip !== undefined) {
        const ip = ms.addresses.rr_ip as string;
        expect(isIPv4(ip)).toBe(true);
        expect(ip.startsWith('10.30.')).toBe(true); // Oakestra's service IP range, 10.30.0.0/16
      }
    });

    it.each(microservices.map((ms) => [String(ms.microservice_name), ms] as const))('%s: environment matches the app config', (_name, ms) => {
      const entries = (ms.environment as unknown[] | undefined) ?? [];
      expect(Array.isArray(entries)).toBe(true);
      for (const entry of entries) {
        expect(typeof entry).toBe('string');
        expect(entry).toMatch(ENV_ENTRY);
      }
      const env = environmentOf(ms);
      expect(env.size).toBe(entries.length); // no variable set twice

      const flopsKeys = [...env.keys()].filter(isFlopsVariable);
      if (flopsKeys.length === 0) return; // a third-party image (broker, registry, database)

      const app = env.get('FLOPS_APP');
      expect(app).toBeDefined(); // FLOps variables without FLOPS_APP: nothing would read them
      expect(Object.keys(CONFIG_OF)).toContain(app);
      expect(existsSync(join(ROOT, 'apps', app!, 'src/main.ts'))).toBe(true);

      const Config = CONFIG_OF[app!];
      const known = new Set(Object.keys(new Config()));
      const unknown = flopsKeys.filter((key) => !IMAGE_VARIABLES.includes(key) && !known.has(key));
      expect(unknown).toEqual([]);

      // The values must also pass the app's own validation, exactly as the app will load them.
      const processEnv = Object.fromEntries([...env].filter(([key]) => known.has(key)));
      expect(() => loadConfig(Config, processEnv)).not.toThrow();
    });

    it('points every URL at a declared service IP (never at the container itself)', () => {
      for (const ms of microservices) {
        for (const [key, value] of environmentOf(ms)) {
          for (const host of urlHosts(value)) {
            const where = `${String(ms.microservice_name)} ${key}=${value}`;
            expect({ where, loopback: ['localhost', '127.0.0.1', '0.0.0.0', '[::1]'].includes(host) }).toEqual({ where, loopback: false });
            if (isIPv4(host)) expect({ where, declared: declaredRrIps.has(host) }).toEqual({ where, declared: true });
          }
        }
      }
    });
  });
});
