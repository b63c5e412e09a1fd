import { podmanPullArgs, podmanRunArgs, PodmanSettings } from './podman-cli.engine';
import { containerName, exitStatus, qualifiedImage } from './podman.driver';

const SETTINGS: PodmanSettings = { bin: 'podman', runtime: 'runc', network: 'host', ulimits: ['nofile=1024:1024', 'nproc=1024:1024'], insecureRegistries: ['127.0.0.1:5000'], stateDir: '/s' };
const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('podman arguments', () => {
  it('runs detached, never pulling, with the runtime, network, ulimits, limits without swap, labels and env', () => {
    const args = podmanRunArgs(
      { name: 'flops-x-p1-learner-0', image: `127.0.0.1:5000/flops/l@${DIGEST}`, env: { A: '1', B: 'x=y' }, labels: { 'dev.flops.project': 'p1' }, memoryMiB: 512, cpus: 1.5, logFile: '/l' },
      SETTINGS,
    );
    expect(args.slice(0, 4)).toEqual(['run', '--detach', '--pull=never', '--name']);
    expect(args.join(' ')).toContain('--runtime runc --network host --log-driver passthrough --ulimit nofile=1024:1024 --ulimit nproc=1024:1024');
    expect(args.join(' ')).toContain('--memory 512m --memory-swap 512m --cpus 1.5 --label dev.flops.project=p1 --env A=1 --env B=x=y');
    expect(args.at(-1)).toBe(`127.0.0.1:5000/flops/l@${DIGEST}`);
  });

  it('mounts host folders, read-only when asked', () => {
    const args = podmanRunArgs({ name: 'n', image: 'i', env: {}, labels: {}, logFile: '/l', mounts: [{ source: '/srv/data', target: '/flops/data', readOnly: true }] }, SETTINGS);
    expect(args.join(' ')).toContain('--volume /srv/data:/flops/data:ro');
  });

  it('sets no limit the project did not ask for', () => {
    const args = podmanRunArgs({ name: 'n', image: 'i', env: {}, labels: {}, logFile: '/l' }, SETTINGS);
    expect(args).not.toContain('--memory');
    expect(args).not.toContain('--cpus');
  });

  it('pulls over plain HTTP only from the registries said to be insecure', () => {
    expect(podmanPullArgs(`127.0.0.1:5000/flops/l@${DIGEST}`, SETTINGS)).toEqual(['pull', '--quiet', '--tls-verify=false', `127.0.0.1:5000/flops/l@${DIGEST}`]);
    expect(podmanPullArgs(`registry.example.com/flops/l@${DIGEST}`, SETTINGS)).toEqual(['pull', '--quiet', `registry.example.com/flops/l@${DIGEST}`]);
  });
});

describe('PodmanDriver pure parts', () => {
  it('qualifies an image without registry with the FLOps registry, and leaves others alone', () => {
    expect(qualifiedImage('flops/learner-runtime:0.1.0', '127.0.0.1:5000')).toBe('127.0.0.1:5000/flops/learner-runtime:0.1.0');
    expect(qualifiedImage(`127.0.0.1:6000/flops/l@${DIGEST}`, '127.0.0.1:5000')).toBe(`127.0.0.1:6000/flops/l@${DIGEST}`);
  });

  it('names a container after its installation, project and component', () => {
    expect(containerName('ab12', 'p-1', 'learner-3')).toBe('flops-ab12-p-1-learner-3');
  });

  it('reports exit codes as codes, and 128 + n as the signal n, an unnoticed OOM kill as a likely one', () => {
    expect(exitStatus({ exitCode: 0, oomKilled: false, memoryLimitBytes: null })).toEqual({ exitCode: 0, signal: null });
    expect(exitStatus({ exitCode: 3, oomKilled: false, memoryLimitBytes: 1 << 20 })).toEqual({ exitCode: 3, signal: null });
    expect(exitStatus({ exitCode: 143, oomKilled: false, memoryLimitBytes: null })).toEqual({ exitCode: null, signal: 'SIGTERM' });
    expect(exitStatus({ exitCode: 137, oomKilled: false, memoryLimitBytes: null })).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(exitStatus({ exitCode: 137, oomKilled: false, memoryLimitBytes: 64 << 20 })).toEqual({ exitCode: null, signal: 'SIGKILL (out of memory? its limit is 64 MiB)' });
    expect(exitStatus({ exitCode: 137, oomKilled: true, memoryLimitBytes: 64 << 20 })).toEqual({ exitCode: null, signal: 'SIGKILL (out of memory)' });
  });
});
