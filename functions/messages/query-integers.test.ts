import { beforeAll, describe, expect, it } from 'vitest';
import { TestAccount, type FetchLike } from '../../test/accounts.ts';
import { restApp, uniqueName } from '../../test/support.ts';

/** Integers in query strings are plain decimal digits; anything `Number()` would bend is a 400. */
let alice: TestAccount;
let roomId: string;

beforeAll(async () => {
  const app = await restApp();
  const t: FetchLike = (p, i) => app.request(p, i);
  alice = new TestAccount(t, uniqueName('ints'));
  await alice.register();
  roomId = (await alice.createRoom('ints')).id;
});

const get = (query: string) =>
  alice.request<{ error?: { code: string } }>('GET', `/api/messages?roomId=${roomId}&${query}`);

describe('GET /api/messages integer parameters', () => {
  it.each(['limit', 'afterSeq', 'beforeSeq', 'beforeTs'])(
    '%s: refuses hex, exponents, spaces, signs, fractions and empty values',
    async (param) => {
      for (const value of [
        '0x10',
        '1e1',
        '%205',
        '5%20',
        '%2B5',
        '-1',
        '1.0',
        '1.5',
        '',
        'Infinity',
        'NaN',
        '٣',
        '1_0',
        '0b1',
        '99999999999999999999',
      ]) {
        const res = await get(`${param}=${value}`);
        expect(res.status, `${param}=${value}`).toBe(400);
        expect(res.body.error?.code).toBe('invalid_request');
      }
    },
  );

  it('accepts plain digits, leading zeros included', async () => {
    for (const q of [
      'limit=10',
      'limit=010',
      'afterSeq=0',
      'beforeSeq=5',
      'beforeTs=1700000000000',
      'limit=100&afterSeq=00',
    ]) {
      expect((await get(q)).status, q).toBe(200);
    }
  });
});
