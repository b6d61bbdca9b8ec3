import { describe, expect, it } from 'vitest';
import { handshakeCredential, originRefused } from './handshake.ts';

/** Which credential a handshake presents, and when its Origin matters (the rest: app.test.ts, test/native). */
describe('handshake credentials', () => {
  const cookie = 'theme=dark; sid=cookie.jwt.value; other=1';

  it('takes auth.token first, then Authorization: Bearer, then the sid cookie', () => {
    const all = { authorization: 'Bearer bearer.jwt.value', cookie };
    expect(handshakeCredential({ token: 'auth.jwt.value' }, all)).toEqual({
      token: 'auth.jwt.value',
      via: 'auth.token',
    });
    expect(handshakeCredential({}, all)).toEqual({ token: 'bearer.jwt.value', via: 'authorization' });
    expect(handshakeCredential(undefined, { cookie })).toEqual({ token: 'cookie.jwt.value', via: 'cookie' });
    expect(handshakeCredential(undefined, {})).toEqual({ token: undefined, via: 'none' });
  });

  it('ignores an auth.token that is not a non-empty string', () => {
    for (const auth of [{ token: '' }, { token: 42 }, { token: ['x'] }, 'token', null]) {
      expect(handshakeCredential(auth, { cookie })).toEqual({ token: 'cookie.jwt.value', via: 'cookie' });
    }
  });

  it('reads the cookie with Hono’s parser (quoted and URI-encoded values)', () => {
    expect(handshakeCredential(undefined, { cookie: 'sid="a%2Eb.c"' }).token).toBe('a.b.c');
  });

  it('never treats the cookie as a token: the same value in both counts as the cookie', () => {
    expect(handshakeCredential(undefined, { authorization: 'Bearer cookie.jwt.value', cookie }).via).toBe(
      'cookie',
    );
  });

  it('checks the Origin of cookie handshakes only, and allows requests without one', () => {
    const allowed = new Set(['https://chat.example.com']);
    expect(originRefused(allowed, 'cookie', 'https://evil.example')).toBe(true);
    expect(originRefused(allowed, 'cookie', 'https://chat.example.com')).toBe(false);
    expect(originRefused(allowed, 'cookie', undefined)).toBe(false);
    for (const via of ['auth.token', 'authorization', 'none'] as const) {
      expect(originRefused(allowed, via, 'https://evil.example')).toBe(false);
    }
  });
});
