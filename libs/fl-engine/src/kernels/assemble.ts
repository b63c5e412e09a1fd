import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the kernels' source lives; `fold-wasm.ts` is generated from it by `npm run kernels`. */
export const KERNEL_SOURCE = join(__dirname, 'fold.wat');

/** Assembles fold.wat with wabt (a dev dependency: only the build and its check need it, never the runtime). */
export async function assembleKernels(): Promise<Buffer> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wabt = await (require('wabt') as () => Promise<WabtModule>)();
  const module = wabt.parseWat('fold.wat', readFileSync(KERNEL_SOURCE, 'utf8'), { simd: true });
  try {
    module.validate();
    return Buffer.from(module.toBinary({ write_debug_names: false }).buffer);
  } finally {
    module.destroy();
  }
}

/** The TypeScript module that carries the assembled kernels, so the runtime needs no assembler. */
export function kernelModuleSource(wasm: Buffer): string {
  const base64 = wasm.toString('base64');
  const lines = base64.match(/.{1,100}/g) ?? [];
  return [
    '// Generated from fold.wat by `npm run kernels`; do not edit. A unit test checks it matches its source.',
    'export const FOLD_WASM_BASE64 =',
    lines.map((line) => `  '${line}'`).join(' +\n') + ';',
    '',
  ].join('\n');
}

interface WabtModule {
  parseWat(filename: string, source: string, features: Record<string, boolean>): WabtParsed;
}
interface WabtParsed {
  validate(): void;
  toBinary(options: Record<string, boolean>): { buffer: Uint8Array };
  destroy(): void;
}
