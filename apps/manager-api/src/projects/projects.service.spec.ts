import { repoSlug as nameFromRepoUrl } from '@flops/contracts';

/** A repository path component as OCI registries (and the build.requested contract) accept it. */
const REGISTRY_COMPONENT = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
/** A project name as the API accepts it. */
const PROJECT_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

describe('nameFromRepoUrl', () => {
  it.each([
    ['https://host/org/Digits-TFJS.git', 'digits-tfjs'],
    ['https://github.com/org/mnist_cnn', 'mnist-cnn'],
    ['https://github.com/org/mnist_cnn/', 'mnist-cnn'],
    ['https://github.com/org/repo.git//', 'repo'],
    ['git@github.com:org/My.Repo.git', 'my-repo'],
    ['ssh://git@host:2222/team/Fed Learning.git', 'fed-learning'],
    ['file:///srv/git/digits.git', 'digits'],
    ['examples/digits-tfjs', 'digits-tfjs'],
    ['./examples/digits-tfjs/', 'digits-tfjs'],
    ['C:\\Users\\me\\ML Repo\\', 'ml-repo'],
    ['/home/me/--weird__name--', 'weird-name'],
    ['https://host/org/ÄÖÜ-model', 'model'],
  ])('%s → %s', (url, name) => {
    expect(nameFromRepoUrl(url)).toBe(name);
  });

  it.each(['', '/', '.git', 'https://host/org/___', 'https://host/org/ÄÖÜ', '\\\\'])(
    'falls back to a stable hash name when %j has no usable last part',
    (url) => {
      const name = nameFromRepoUrl(url);
      expect(name).toMatch(/^repo-[0-9a-f]{8}$/);
      expect(nameFromRepoUrl(url)).toBe(name);
    },
  );

  it('gives different fallback names to different URLs', () => {
    expect(nameFromRepoUrl('https://a.example/___')).not.toBe(nameFromRepoUrl('https://b.example/___'));
  });

  it('keeps names at most 50 characters long', () => {
    const name = nameFromRepoUrl(`https://host/org/${'a'.repeat(80)}.git`);
    expect(name).toBe('a'.repeat(50));
  });

  it.each([
    `https://host/org/${'a'.repeat(49)}_${'b'.repeat(10)}.git`,
    `https://host/org/${'x'.repeat(48)}--${'y'.repeat(10)}`,
    `https://host/org/${'x'.repeat(49)}.${'y'.repeat(10)}`,
  ])('does not end a shortened name with a dash (%s)', (url) => {
    const name = nameFromRepoUrl(url);
    expect(name.length).toBeLessThanOrEqual(50);
    expect(name).toMatch(REGISTRY_COMPONENT);
  });

  it.each([
    'https://host/org/Digits-TFJS.git',
    'git@github.com:org/My.Repo.git',
    'C:\\Users\\me\\ML Repo\\',
    '',
    `https://host/${'A_'.repeat(40)}`,
    'https://host/org/-.-_x_-.-',
  ])('always yields a valid project name and registry path component (%j)', (url) => {
    const name = nameFromRepoUrl(url);
    expect(name).toMatch(PROJECT_NAME);
    expect(name).toMatch(REGISTRY_COMPONENT);
  });
});
