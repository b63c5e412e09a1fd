import { PythonDependencyError, pipErrorLines, requirementsOf } from './python-env';

describe('requirementsOf', () => {
  it('reads requirements.txt without comments and blank lines', () => {
    expect(requirementsOf('requirements.txt', '# pinned\nnumpy==2.0  # fast\n\nscikit-learn>=1.3\n').requirements).toEqual(['numpy==2.0', 'scikit-learn>=1.3']);
  });

  it("takes conda.yaml's pip list and names the conda packages pip cannot install", () => {
    const yaml = ['name: x', 'channels: [conda-forge]', 'dependencies:', '  - python=3.11', '  - pip', '  - cudatoolkit=11', '  - pip:', '      - mlflow', '      - numpy==1.26.4'].join('\n');
    expect(requirementsOf('conda.yaml', yaml)).toEqual({ requirements: ['mlflow', 'numpy==1.26.4'], ignored: ['cudatoolkit=11'] });
  });

  it('accepts a conda.yaml without dependencies', () => {
    expect(requirementsOf('conda.yaml', 'name: empty\n')).toEqual({ requirements: [], ignored: [] });
  });

  it('rejects a conda.yaml that is not YAML or has a malformed dependency list', () => {
    expect(() => requirementsOf('conda.yaml', 'dependencies: [a\n')).toThrow(PythonDependencyError);
    expect(() => requirementsOf('conda.yaml', 'dependencies: numpy\n')).toThrow(/"dependencies" must be a list/);
    expect(() => requirementsOf('conda.yaml', 'dependencies:\n  - pip:\n      - {a: 1}\n')).toThrow(/must be a string/);
  });
});

describe('pipErrorLines', () => {
  it("keeps pip's own error lines", () => {
    const output = [
      'python-venv: creating /x from /y (Python 3.11.7) ...',
      'ERROR: Could not find a version that satisfies the requirement no-such-package==9.9 (from versions: none)',
      'ERROR: No matching distribution found for no-such-package==9.9',
    ].join('\n');
    expect(pipErrorLines(output)).toBe(output.split('\n').slice(1).join('\n'));
  });

  it('falls back to the last lines when pip printed no error line', () => {
    expect(pipErrorLines('a\nb\n\nc\n')).toBe('a\nb\nc');
  });
});
