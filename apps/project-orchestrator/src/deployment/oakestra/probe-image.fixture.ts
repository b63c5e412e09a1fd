import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RegistryClient, packDirectoryLayer, pushImage } from '@flops/oci-registry';

/** Debian's statically linked busybox (package busybox-static): a whole userland in one file. */
export const BUSYBOX = '/bin/busybox';

/**
 * Pushes a single-layer image holding only a static busybox to the registry at `registryUrl` and
 * returns `<host:port>/<repo>:<tag>`. Its entrypoint is busybox itself, so an SLA's `cmd` such as
 * `["/bin/busybox", "sh", "-c", "…"]` runs any small probe in a worker's container.
 */
export async function pushProbeImage(registryUrl: string, repo = 'flops/oakestra-probe', tag = 'busybox'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'flops-probe-'));
  try {
    await mkdir(path.join(dir, 'bin'));
    await copyFile(BUSYBOX, path.join(dir, 'bin', 'busybox'));
    const layer = await packDirectoryLayer(dir);
    const client = new RegistryClient({ url: registryUrl });
    const pushed = await pushImage(client, repo, tag, {
      config: { config: { Entrypoint: ['/bin/busybox'], Cmd: ['sh', '-c', 'sleep 3600'] } },
      layers: [layer],
    });
    return pushed.tagReference;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
