import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RegistryClient, packDirectoryLayer, pushImage } from '@flops/oci-registry';

/** Debian's statically linked busybox (package busybox-static): a whole userland in one file. */
export const BUSYBOX = '/bin/busybox';

/**
 * Pushes a single-layer image holding only a static busybox to the registry at `registryUrl` and
 * returns `<host:port>/<repo>@<digest>`. It runs the shell script in its PROBE environment variable
 * (so a component's env decides what it does); an SLA `cmd` such as
 * `["/bin/busybox", "sh", "-c", "…"]` replaces that.
 */
export async function pushProbeImage(registryUrl: string, repo = 'flops/oakestra-probe', tag = 'busybox'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'flops-probe-'));
  try {
    await mkdir(path.join(dir, 'bin'));
    await copyFile(BUSYBOX, path.join(dir, 'bin', 'busybox'));
    const layer = await packDirectoryLayer(dir);
    const client = new RegistryClient({ url: registryUrl });
    const pushed = await pushImage(client, repo, tag, {
      config: { config: { Entrypoint: ['/bin/busybox', 'sh', '-c'], Cmd: ['eval "$PROBE"'] } },
      layers: [layer],
    });
    // By digest: a worker's containerd keeps images by name, and would run a stale one under a reused tag.
    return pushed.reference;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
