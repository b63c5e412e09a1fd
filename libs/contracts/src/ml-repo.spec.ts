import { repoLayoutOf } from './ml-repo';

const manifest = { contract: 'flops/v1', name: 'digits', runtime: 'tfjs-4', entry: 'model_manager.js' };

describe('repoLayoutOf', () => {
  it('takes a flops.json repo to the tfjs runtime, even with Python files beside it', () => {
    const { layout, problems } = repoLayoutOf(new Set(['flops.json', 'model_manager.js', 'model_manager.py']), manifest);
    expect(problems).toEqual([]);
    expect(layout).toMatchObject({ runtime: 'tfjs-4', manifest: { entry: 'model_manager.js' } });
  });

  it('reports a broken manifest instead of falling back to the Python layout', () => {
    const { layout, problems } = repoLayoutOf(new Set(['flops.json', 'model_manager.py', 'data_manager.py', 'conda.yaml']), { ...manifest, runtime: 'pytorch' });
    expect(layout).toBeUndefined();
    expect(problems.join()).toMatch(/flops\.json: .*runtime/);
  });

  it('takes the original FLOps layout to the Python runtime, preferring requirements.txt over conda.yaml', () => {
    expect(repoLayoutOf(new Set(['model_manager.py', 'data_manager.py', 'conda.yaml'])).layout).toEqual({ runtime: 'python-3', dependencies: 'conda.yaml' });
    expect(repoLayoutOf(new Set(['model_manager.py', 'data_manager.py', 'conda.yaml', 'requirements.txt'])).layout).toEqual({
      runtime: 'python-3',
      dependencies: 'requirements.txt',
    });
  });

  it('names every missing piece of a Python repo', () => {
    const { layout, problems } = repoLayoutOf(new Set(['model_manager.py']));
    expect(layout).toBeUndefined();
    expect(problems).toEqual([
      'a Python repo needs data_manager.py beside model_manager.py',
      'a Python repo needs conda.yaml or requirements.txt to declare its dependencies',
    ]);
  });

  it('says what a repo of neither layout lacks', () => {
    expect(repoLayoutOf(new Set(['README.md'])).problems).toEqual([
      'flops.json is missing at the repo root (contract flops/v1), and there is no model_manager.py for the FLOps Python layout either',
    ]);
  });
});
