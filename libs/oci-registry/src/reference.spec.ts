import { InvalidReferenceError } from './errors';
import { formatImageReference, isValidRepository, isValidTag, parseImageReference } from './reference';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('parseImageReference', () => {
  it.each([
    ['127.0.0.1:5000/flops/learner-abc:tag', { registry: '127.0.0.1:5000', repository: 'flops/learner-abc', tag: 'tag' }],
    [`127.0.0.1:5000/flops/learner-abc@${DIGEST}`, { registry: '127.0.0.1:5000', repository: 'flops/learner-abc', digest: DIGEST }],
    [`127.0.0.1:5000/flops/learner:v1@${DIGEST}`, { registry: '127.0.0.1:5000', repository: 'flops/learner', tag: 'v1', digest: DIGEST }],
    ['localhost/x', { registry: 'localhost', repository: 'x' }],
    ['localhost:5000/a/b/c:latest', { registry: 'localhost:5000', repository: 'a/b/c', tag: 'latest' }],
    ['registry.example.com/team/model_v2.1:r-3', { registry: 'registry.example.com', repository: 'team/model_v2.1', tag: 'r-3' }],
    ['flops/learner:v1', { repository: 'flops/learner', tag: 'v1' }],
    ['learner', { repository: 'learner' }],
    ['a__b/c--d:_T.1-x', { repository: 'a__b/c--d', tag: '_T.1-x' }],
    ['[::1]:5000/x:y', { registry: '[::1]:5000', repository: 'x', tag: 'y' }],
  ])('parses %s', (ref, expected) => {
    expect(parseImageReference(ref)).toEqual(expected);
    expect(formatImageReference(parseImageReference(ref))).toBe(ref);
  });

  it.each([
    ['', /empty/],
    ['127.0.0.1:5000/Flops/learner:v1', /invalid repository/],
    ['127.0.0.1:5000/flops/learner:', /invalid tag/],
    ['127.0.0.1:5000/flops/learner:-bad', /invalid tag/],
    [`127.0.0.1:5000/flops/learner:${'t'.repeat(129)}`, /invalid tag/],
    ['127.0.0.1:5000/flops/learner@sha256:abc', /invalid digest/],
    ['127.0.0.1:5000/flops//learner', /invalid repository/],
    ['127.0.0.1:5000/flops/learner-:x', /invalid repository/],
    ['http://127.0.0.1:5000/flops/learner', /URL scheme/],
    ['flops/learner v1', /whitespace/],
    ['bad_host:99999999/x', /invalid registry/],
  ])('rejects %j', (ref, message) => {
    expect(() => parseImageReference(ref)).toThrow(InvalidReferenceError);
    expect(() => parseImageReference(ref)).toThrow(message);
  });
});

describe('formatImageReference', () => {
  it('formats every combination', () => {
    expect(formatImageReference({ repository: 'a/b' })).toBe('a/b');
    expect(formatImageReference({ registry: '127.0.0.1:5000', repository: 'a/b', tag: 't' })).toBe('127.0.0.1:5000/a/b:t');
    expect(formatImageReference({ registry: 'r.io', repository: 'a', digest: DIGEST })).toBe(`r.io/a@${DIGEST}`);
  });

  it('validates the parts', () => {
    expect(() => formatImageReference({ repository: 'UPPER' })).toThrow(/Invalid repository/);
    expect(() => formatImageReference({ repository: 'a', tag: 'x/y' })).toThrow(/Invalid tag/);
    expect(() => formatImageReference({ repository: 'a', digest: 'sha256:nothex' })).toThrow(/Invalid digest/);
    expect(() => formatImageReference({ registry: 'http://x', repository: 'a' })).toThrow(/Invalid registry/);
  });
});

describe('name grammar', () => {
  it('repositories follow the OCI distribution grammar', () => {
    for (const ok of ['a', 'flops/learner-abc', 'a.b_c__d---e/f0', 'x/y/z', '0']) expect(isValidRepository(ok)).toBe(true);
    for (const bad of ['', 'A', 'a/', '/a', 'a//b', 'a..b', 'a___b', '-a', 'a-', 'a b', 'a:b', 'é', 'a'.repeat(256)]) {
      expect(isValidRepository(bad)).toBe(false);
    }
  });

  it('tags follow [A-Za-z0-9_][A-Za-z0-9._-]{0,127}', () => {
    for (const ok of ['latest', 'V1.0', '_x', 'round-12_final', 'a'.repeat(128)]) expect(isValidTag(ok)).toBe(true);
    for (const bad of ['', '.x', '-x', 'a/b', 'a:b', 'a'.repeat(129), 'tag with space']) expect(isValidTag(bad)).toBe(false);
  });
});
