import { fieldErrors, fieldOf, isEnded } from './client';

describe('fieldOf: the field a validation message of the API is about', () => {
  it.each([
    ['training.rounds must not be less than 1', 'training.rounds'],
    ['repo.url must be longer than or equal to 1 characters', 'repo.url'],
    ['training.dataTags must each be 1-100 letters, digits, ".", "_", ":" or "-"', 'training.dataTags'],
    ['training.minLearnersPerRound (5) must not exceed training.learners (3)', 'training.minLearnersPerRound'],
    ['name must be lowercase letters and digits, words joined by single dashes', 'name'],
    ['property training.epochs should not exist', 'training.epochs'],
    ['resources.memoryMiB must be an integer number', 'resources.memoryMiB'],
  ])('%s → %s', (message, field) => expect(fieldOf(message)).toBe(field));

  it('names no field for a message that does not start with one', () => {
    expect(fieldOf('  something went wrong')).toBeNull();
    expect(fieldOf('')).toBeNull();
  });

  it('groups messages by field, the rest under the empty key', () => {
    expect(fieldErrors(['training.rounds must not be less than 1', 'training.rounds must be an integer number', '?'])).toEqual({
      'training.rounds': ['training.rounds must not be less than 1', 'training.rounds must be an integer number'],
      '': ['?'],
    });
  });

  it('knows which states are final', () => {
    expect(['COMPLETED', 'FAILED', 'CANCELLED'].every((s) => isEnded(s as never))).toBe(true);
    expect(isEnded('TRAINING')).toBe(false);
  });
});
