/**
 * The channel between a learner and its Python worker (`python -m flops_utils.worker`, in
 * python/flops_utils/worker.py): the learner writes requests to the worker's stdin and reads
 * answers from its stdout, one at a time. Each message is a frame: a uint32 little-endian byte
 * length, then an FLT1 document (@flops/tensor-codec) whose meta is the request or answer below and
 * whose tensors carry model parameters, named `param/<i>` in the order the repo returns them.
 */
export const PYTHON_WORKER_MODULE = 'flops_utils.worker';
export const PYTHON_WORKER_FRAME_PREFIX_BYTES = 4;
/** Name of the i-th parameter array of a Python model. */
export const pythonParameterName = (index: number): string => `param/${index}`;

export type PythonWorkerRequest =
  | {
      /** Import the repo's model_manager.py, build its ModelManager and call set_model_data(). */
      op: 'load';
      repoDir: string;
      dataDir?: string;
      dataTags: string[];
      learnerIndex: number;
      learnerCount: number;
      seed: number;
    }
  | { op: 'get_weights' }
  | { op: 'set_weights' }
  | { op: 'fit'; round: number; hyperparameters: Record<string, number | string | boolean> }
  | { op: 'evaluate' }
  | { op: 'close' };

export type PythonWorkerOp = PythonWorkerRequest['op'];

/** The answer's meta: `ok` plus the operation's result, or what went wrong with the Python traceback. */
export type PythonWorkerAnswer =
  | { ok: true; parameters?: number; numSamples?: number; loss?: number | null; accuracy?: number | null }
  | { ok: false; error: string; traceback: string };
