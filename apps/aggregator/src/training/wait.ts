import { EventEmitter } from 'node:events';

/** Lets the round loop sleep until something it waits for happened, a timeout passed, or it was aborted. */
export class Signal {
  private readonly emitter = new EventEmitter();

  notify(): void {
    this.emitter.emit('change');
  }

  /** Resolves true when `done()` holds, false on timeout; rejects when `signal` aborts. */
  until(done: () => boolean, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve, reject) => {
      const finish = (value: boolean | Error): void => {
        clearTimeout(timer);
        this.emitter.off('change', check);
        signal.removeEventListener('abort', aborted);
        if (value instanceof Error) reject(value);
        else resolve(value);
      };
      const check = (): void => {
        if (done()) finish(true);
      };
      const aborted = (): void => finish(new TrainingAbortedError());
      const timer = setTimeout(() => finish(done()), timeoutMs);
      this.emitter.on('change', check);
      if (signal.aborted) aborted();
      else signal.addEventListener('abort', aborted, { once: true });
    });
  }
}

export class TrainingAbortedError extends Error {
  constructor() {
    super('training was aborted');
  }
}
