// Assembles the aggregation kernels (libs/fl-engine/src/kernels/fold.wat) into fold-wasm.ts.
//   npm run kernels
// wabt is a dev dependency: only this build and the unit test that checks its output need it, never the runtime.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const KERNELS = join(__dirname, '../libs/fl-engine/src/kernels');

interface WabtModule {
  parseWat(filename: string, source: string, features: Record<string, boolean>): {
    validate(): void;
    toBinary(options: Record<string, boolean>): { buffer: Uint8Array };
    destroy(): void;
  };
}

/** fold.wat assembled by wabt. */
export async function assembleKernels(): Promise<Buffer> {
  const wabt = await (require('wabt') as () => Promise<WabtModule>)();
  const module = wabt.parseWat('fold.wat', readFileSync(join(KERNELS, 'fold.wat'), 'utf8'), { simd: true });
  try {
    module.validate();
    return Buffer.from(module.toBinary({ write_debug_names: false }).buffer);
  } finally {
    module.destroy();
  }
}

/** The TypeScript module that carries the assembled kernels, so the runtime needs no assembler. */
export function kernelModuleSource(wasm: Buffer): string {
  const lines = wasm.toString('base64').match(/.{1,100}/g) ?? [];
  return [
    '// Generated from fold.wat by `npm run kernels`; do not edit. A unit test checks it matches its source.',
    'export const FOLD_WASM_BASE64 =',
    lines.map((line) => `  '${line}'`).join(' +\n') + ';',
    '',
  ].join('\n');
}

if (require.main === module) {
  void assembleKernels().then((wasm) => {
    const target = join(KERNELS, 'fold-wasm.ts');
    writeFileSync(target, kernelModuleSource(wasm));
    console.log(`${target}: ${wasm.length} bytes of WebAssembly`);
  });
}
