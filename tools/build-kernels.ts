// Assembles the aggregation kernels (libs/fl-engine/src/kernels/fold.wat) into fold-wasm.ts.
//   npm run kernels
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assembleKernels, kernelModuleSource } from '../libs/fl-engine/src/kernels/assemble';

void assembleKernels().then((wasm) => {
  const target = join(__dirname, '../libs/fl-engine/src/kernels/fold-wasm.ts');
  writeFileSync(target, kernelModuleSource(wasm));
  console.log(`${target}: ${wasm.length} bytes of WebAssembly`);
});
