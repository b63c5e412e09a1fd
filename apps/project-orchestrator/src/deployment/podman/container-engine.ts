/** One container to start, in terms any OCI engine understands. */
export interface ContainerRun {
  /** Unique on the machine; starting a second container of that name fails. */
  name: string;
  /** Fully qualified reference (`host:port/repo@sha256:…`), already pulled. */
  image: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** Hard memory limit (no swap on top). */
  memoryMiB?: number;
  /** CPU quota in CPUs (0.5 = half a core). */
  cpus?: number;
  /** The container's stdout and stderr are appended to this file, as they are written. */
  logFile: string;
  /** Host folders seen inside the container. */
  mounts?: readonly ContainerMount[];
}

export interface ContainerMount {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface ContainerStatus {
  id: string;
  name: string;
  image: string;
  /** Still to run or running: created, running, paused… (not exited, stopped or being removed). */
  running: boolean;
  /** Set once it ended. */
  exitCode: number | null;
  labels: Record<string, string>;
}

/** Why a container ended, when more than its exit code tells it. */
export interface ContainerEnd {
  /** As the runtime reports it: 128 + n when the main process died of signal n. */
  exitCode: number | null;
  /** What the engine knows for sure (on cgroup v1 hosts podman often does not notice). */
  oomKilled: boolean;
  /** The container's memory limit, if it had one. */
  memoryLimitBytes: number | null;
}

/** The container engine the podman driver talks to (a port: the CLI implements it, tests use it as is). */
export abstract class ContainerEngine {
  /** Fetches an image unless it is already there. */
  abstract pull(image: string): Promise<void>;
  /** Creates and starts a container, detached; returns its id. A container that cannot start is removed again. */
  abstract run(run: ContainerRun): Promise<string>;
  /** Every container (running or not) carrying all of these labels. */
  abstract list(labels: Record<string, string>): Promise<ContainerStatus[]>;
  abstract ended(id: string): Promise<ContainerEnd | null>;
  /** SIGTERM, then SIGKILL after the timeout; then removes it. Nothing happens for an unknown container. */
  abstract remove(id: string, stopTimeoutSeconds: number): Promise<void>;
}
