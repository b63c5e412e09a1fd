import { Command, CommanderError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, CreateProject, FlopsApi, Project, ProjectDetail, isEnded } from '@flops/api-client';
import { STRATEGIES } from '@flops/contracts';
import { UsageError, age, formatMetrics, latestRound, parseHyperparameter, parseInteger, parseNumber, progress, table } from './format';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, projectFailed: 1, usage: 2, unavailable: 3 } as const;

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether stdout is a terminal (progress bars) or a pipe (plain lines). */
  interactive: boolean;
  pollMs: number;
}

const DEFAULT_API = 'http://127.0.0.1:3000';

/** Runs one `flops` command line; resolves to the exit code. */
export async function runCli(argv: string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('flops')
    .description('Submit, follow and steer FLOps federated-learning projects')
    .option('--api <url>', 'manager API', env.FLOPS_API_URL || DEFAULT_API)
    .option('--json', 'machine-readable output (one JSON document)', false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) })
    .showHelpAfterError(false);

  const api = (): FlopsApi => new FlopsApi(program.opts<{ api: string }>().api);
  const json = (): boolean => program.opts<{ json: boolean }>().json;
  const print = (value: unknown, human: () => string): void => io.out(json() ? JSON.stringify(value, null, 2) : human());

  program
    .command('submit')
    .description('Submit a project: an ML repo (local directory or git URL) and its training configuration')
    .argument('[repo]', 'local directory or git URL of the ML repo (or repo.url in --config)')
    .option('-c, --config <file>', 'a JSON file with the request (as POST /api/projects takes it); flags override it')
    .option('--ref <ref>', 'branch, tag or commit (git repos)')
    .option('--name <name>', 'project name (default: the repo name)')
    .option('--rounds <n>', 'federated rounds', parseInteger('--rounds'))
    .option('--learners <n>', 'learners to deploy', parseInteger('--learners'))
    .option('--min-learners <n>', 'fewest updates a round accepts', parseInteger('--min-learners'))
    .addOption(new Option('--strategy <name>', 'aggregation strategy').choices([...STRATEGIES]))
    .option('--hp <key=value>', 'a hyperparameter for the user code (repeatable)', parseHyperparameter)
    .option('--data-tag <tag>', 'a data tag (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--round-timeout <seconds>', 'how long a round waits for updates', parseInteger('--round-timeout'))
    .option('--seed <n>', 'seed for the user code', parseInteger('--seed'))
    .option('--cpus <n>', 'CPU cores per learner', parseNumber('--cpus'))
    .option('--memory <MiB>', 'memory per learner (MiB)', parseInteger('--memory'))
    .option('-w, --watch', 'then watch it until it ends (exit code as for watch)')
    .action(async (repo: string | undefined, o: SubmitOptions) => {
      const request = submitRequest(repo, o);
      const project = await api().submit(request);
      if (!o.watch) return print(project, () => `submitted ${project.id} (${project.name}): ${project.state}`);
      if (!json()) io.out(`submitted ${project.id} (${project.name})`);
      code = await watch(api(), project.id, io, json());
    });

  program
    .command('list')
    .description('List projects, newest first')
    .option('--state <state>', 'only projects in this state')
    .option('--limit <n>', 'at most this many', parseInteger('--limit'), 50)
    .action(async (o: { state?: string; limit: number }) => {
      const list = await api().list({ ...(o.state ? { state: o.state as Project['state'] } : {}), limit: o.limit });
      print(list, () =>
        list.items.length === 0
          ? 'no projects'
          : table([
              ['ID', 'NAME', 'STATE', 'ROUNDS', 'AGE', 'METRICS'],
              ...list.items.map((p) => {
                const { done, total } = progress(p);
                return [p.id, p.name, p.state, `${done}/${total}`, age(p.createdAt), formatMetrics(p.finalMetrics ?? latestRound(p)?.evalMetrics)];
              }),
            ]),
      );
    });

  program
    .command('show')
    .description('Show one project: state, history, rounds, components, model')
    .argument('<id>')
    .action(async (id: string) => {
      const project = await api().get(id);
      print(project, () => describe(project));
      if (project.state === 'FAILED') code = EXIT.projectFailed;
    });

  program
    .command('watch')
    .description('Follow a project until it ends: a progress bar over its rounds and the latest metrics (exit 1 if it fails or is cancelled)')
    .argument('<id>')
    .action(async (id: string) => {
      code = await watch(api(), id, io, json());
    });

  program
    .command('logs')
    .description("Print a project's logs: the builder's, the aggregator's and each learner's")
    .argument('<id>')
    .argument('[component]', 'only this component (builder, aggregator, learner-0, …)')
    .option('-f, --follow', 'keep printing new lines until the project ends')
    .action(async (id: string, component: string | undefined, o: { follow?: boolean }) => {
      code = await logs(api(), id, component, !!o.follow, io, json());
    });

  program
    .command('cancel')
    .description('Cancel a running project')
    .argument('<id>')
    .option('--reason <text>', 'why (recorded with the project)')
    .action(async (id: string, o: { reason?: string }) => {
      const project = await api().cancel(id, o.reason);
      print(project, () => `cancellation of ${project.id} requested (was ${project.state})`);
    });

  const models = program.command('models').description('Trained models');
  models
    .command('list')
    .description('Projects with a trained model')
    .option('--limit <n>', 'look at this many recent projects', parseInteger('--limit'), 200)
    .action(async (o: { limit: number }) => {
      const { items } = await api().list({ state: 'COMPLETED', limit: o.limit });
      const withModel = items.filter((p) => p.model);
      const rows = withModel.map((p) => ({ id: p.id, name: p.name, model: p.model!, finalMetrics: p.finalMetrics ?? {} }));
      print(rows, () =>
        rows.length === 0
          ? 'no trained models'
          : table([['ID', 'NAME', 'SIZE', 'METRICS', 'REFERENCE'], ...rows.map((r) => [r.id, r.name, `${r.model.sizeBytes}`, formatMetrics(r.finalMetrics), r.model.reference])]),
      );
    });
  models
    .command('pull')
    .description("Download a project's trained model (FLT1 tensors) to a file")
    .argument('<id>')
    .option('-o, --output <file>', 'where to write it (default: <name>-<id>.flt1)')
    .action(async (id: string, o: { output?: string }) => {
      const client = api();
      const project = await client.get(id);
      const bytes = await client.model(id);
      const file = resolve(o.output ?? `${project.name}-${project.id}.flt1`);
      await writeFile(file, bytes);
      print({ id, file, sizeBytes: bytes.byteLength, digest: project.model?.digest }, () => `wrote ${file} (${bytes.byteLength} bytes)`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    return failure(error, io, json());
  }
}

interface SubmitOptions {
  config?: string;
  ref?: string;
  name?: string;
  rounds?: number;
  learners?: number;
  minLearners?: number;
  strategy?: CreateProject['training']['strategy'];
  hp?: Record<string, number | string | boolean>;
  dataTag?: string[];
  roundTimeout?: number;
  seed?: number;
  cpus?: number;
  memory?: number;
  watch?: boolean;
}

/** The request from a config file and flags; a local directory becomes an absolute path the builder can read. */
export function submitRequest(repo: string | undefined, o: SubmitOptions, cwd = process.cwd()): CreateProject {
  let base: Partial<CreateProject> = {};
  if (o.config) {
    try {
      base = JSON.parse(readFileSync(resolve(cwd, o.config), 'utf8')) as Partial<CreateProject>;
    } catch (error) {
      throw new UsageError(`cannot read the config file ${o.config}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (typeof base !== 'object' || base === null || Array.isArray(base)) throw new UsageError(`${o.config} must hold a JSON object`);
  }
  const url = repo ?? base.repo?.url;
  if (!url) throw new UsageError('give the ML repo: a local directory or a git URL (or repo.url in --config)');
  const local = resolve(cwd, url);
  const repoUrl = !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^[^/]+@[^/]+:/.test(url) && existsSync(local) && statSync(local).isDirectory() ? local : url;
  const training: Partial<CreateProject['training']> = { ...base.training };
  const set = <K extends keyof CreateProject['training']>(key: K, value: CreateProject['training'][K] | undefined) => {
    if (value !== undefined) training[key] = value;
  };
  set('rounds', o.rounds);
  set('learners', o.learners);
  set('minLearnersPerRound', o.minLearners);
  set('strategy', o.strategy);
  if (o.hp) training.hyperparameters = { ...training.hyperparameters, ...o.hp };
  set('dataTags', o.dataTag);
  set('roundTimeoutSeconds', o.roundTimeout);
  set('seed', o.seed);
  if (training.rounds === undefined || training.learners === undefined) throw new UsageError('give --rounds and --learners (or training.rounds and training.learners in --config)');
  const resources = { ...base.resources, ...(o.cpus !== undefined ? { cpus: o.cpus } : {}), ...(o.memory !== undefined ? { memoryMiB: o.memory } : {}) };
  const ref = o.ref ?? base.repo?.ref;
  return {
    ...base,
    ...(o.name ? { name: o.name } : {}),
    repo: { url: repoUrl, ...(ref ? { ref } : {}) },
    training: training as CreateProject['training'],
    ...(Object.keys(resources).length ? { resources } : {}),
  };
}

function describe(p: ProjectDetail): string {
  const lines = [`${p.id}  ${p.name}  ${p.state}`, `repo      ${p.repo.url}${p.repo.ref ? ` @ ${p.repo.ref}` : ''}`];
  const { done, total } = progress(p);
  lines.push(`training  ${done}/${total} rounds, ${p.training.learners} learners, ${p.training.strategy}, created ${age(p.createdAt)} ago`);
  if (p.image) lines.push(`image     ${p.image.reference}${p.image.cacheHit ? ' (cache hit)' : ''}`);
  if (p.finalMetrics) lines.push(`final     ${formatMetrics(p.finalMetrics)}`);
  if (p.model) lines.push(`model     ${p.model.reference}${p.model.availability ? ` (${p.model.availability})` : ''}`);
  if (p.failure) lines.push(`failed    in ${p.failure.stage}: ${p.failure.reason}`);
  lines.push('', 'history');
  for (const h of p.history) lines.push(`  ${h.at}  ${h.from ?? '-'} → ${h.to}  (${h.event}${h.reason ? `: ${h.reason}` : ''})`);
  if (p.rounds.length) {
    lines.push('', 'rounds');
    for (const r of p.rounds) lines.push(`  ${String(r.round).padStart(3)}  ${r.learners} learners  ${formatMetrics(r.evalMetrics)}`);
  }
  if (p.components.length) {
    lines.push('', 'components');
    for (const c of p.components) lines.push(`  ${c.component.padEnd(12)} ${c.status}${c.exitCode != null ? ` (exit ${c.exitCode})` : ''}`);
  }
  return lines.join('\n');
}

/** Polls the project until it ends; a bar over its rounds when stdout is a terminal, a line per change otherwise. */
async function watch(api: FlopsApi, id: string, io: CliIo, json: boolean): Promise<number> {
  let project = await api.get(id);
  const bar =
    io.interactive && !json
      ? new SingleBar({ format: ' {state} |{bar}| round {value}/{total}  {metrics}', hideCursor: true, clearOnComplete: false, noTTYOutput: false })
      : null;
  bar?.start(project.training.rounds, project.rounds.length, { state: project.state.padEnd(11), metrics: '' });
  let said = '';
  for (;;) {
    const { done, total } = progress(project);
    const metrics = formatMetrics(latestRound(project)?.evalMetrics);
    if (bar) bar.update(done, { state: project.state.padEnd(11), metrics });
    else if (!json) {
      const line = `${project.state}  round ${done}/${total}${metrics ? `  ${metrics}` : ''}`;
      if (line !== said) io.out(line);
      said = line;
    }
    if (isEnded(project.state)) break;
    await sleep(io.pollMs);
    project = await api.get(id);
  }
  bar?.stop();
  if (json) io.out(JSON.stringify(project, null, 2));
  else if (project.state === 'COMPLETED') io.out(`COMPLETED  ${formatMetrics(project.finalMetrics)}`);
  else io.out(`${project.state}${project.failure ? `: ${project.failure.reason}` : ''}`);
  return project.state === 'COMPLETED' ? EXIT.ok : EXIT.projectFailed;
}

/** Prints every line of the chosen logs; with `follow`, polls for more until the project has ended and nothing is left. */
async function logs(api: FlopsApi, id: string, only: string | undefined, follow: boolean, io: CliIo, json: boolean): Promise<number> {
  const offsets = new Map<string, number>();
  const collected: { component: string; line: string }[] = [];
  for (;;) {
    const ended = isEnded((await api.get(id)).state);
    const components = only ? [only] : (await api.logs(id)).map((c) => c.component);
    let read = 0;
    for (const component of components) {
      for (;;) {
        const chunk = await api.log(id, component, offsets.get(component) ?? 0).catch((error: unknown) => {
          // A component named on the command line may not have written its log yet.
          if (follow && error instanceof ApiError && error.status === 404) return null;
          throw error;
        });
        if (!chunk || chunk.lines.length === 0) break;
        offsets.set(component, chunk.nextOffset);
        read += chunk.lines.length;
        for (const line of chunk.lines) {
          if (json) collected.push({ component, line });
          else io.out(only ? line : `[${component}] ${line}`);
        }
      }
    }
    if (!follow || (ended && read === 0)) break;
    await sleep(io.pollMs);
  }
  if (json) io.out(JSON.stringify(collected, null, 2));
  return EXIT.ok;
}

function failure(error: unknown, io: CliIo, json: boolean): number {
  if (error instanceof CommanderError) {
    // --help and --version end through here too, with code 0.
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const report = (code: number, message: string, extra: Record<string, unknown> = {}): number => {
    io.err(json ? JSON.stringify({ error: message, exitCode: code, ...extra }) : `flops: ${message}`);
    return code;
  };
  if (error instanceof UsageError) return report(EXIT.usage, error.message);
  if (error instanceof ApiError) {
    // The API refusing the request (invalid, unknown project, already ended) is bad usage too.
    if (error.status >= 400 && error.status < 500) return report(EXIT.usage, error.messages.join('\n'), { status: error.status, messages: error.messages });
    return report(EXIT.unavailable, `the API answered ${error.status}: ${error.messages.join('; ')}`, { status: error.status });
  }
  return report(EXIT.unavailable, `cannot reach the API: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`);
}
