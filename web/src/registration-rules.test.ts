import { describe, expect, it } from 'vitest';
import { registrationProblems } from './registration-rules.ts';

describe('registrationProblems', () => {
  it('accepts what the server accepts', () => {
    expect(registrationProblems('a.b_c-9', '12345678')).toEqual([]);
    expect(registrationProblems('x'.repeat(32), 'p'.repeat(256))).toEqual([]);
  });

  it('says what is wrong in words, per field', () => {
    expect(registrationProblems('ab', 'short')).toEqual([
      { field: 'username', message: 'Usernames are 3 to 32 characters long (this one has 2).' },
      { field: 'password', message: 'Passwords need at least 8 characters (this one has 5).' },
    ]);
    expect(registrationProblems('x'.repeat(33), 'p'.repeat(257)).map((p) => p.field)).toEqual([
      'username',
      'password',
    ]);
    expect(registrationProblems('jo hn!', 'long enough')).toEqual([
      {
        field: 'username',
        message: 'Usernames may use only letters A–Z, digits, “_”, “.” and “-” (not spaces, “!”).',
      },
    ]);
    expect(registrationProblems('josé', 'long enough')[0]?.message).toContain('“é”');
  });
});
