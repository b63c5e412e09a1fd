import 'reflect-metadata';
import { EXIT, runCli } from './cli';

// `flops …`: the exit code is what scripts branch on (0 ok, 1 project failed, 2 bad usage, 3 API unavailable).
runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  interactive: !!process.stdout.isTTY,
  pollMs: Number(process.env.FLOPS_CLI_POLL_MS) || 1000,
}).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`flops: ${String(error)}\n`);
    process.exit(EXIT.unavailable);
  },
);
