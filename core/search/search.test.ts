import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { sharedServices, uniqueName } from '../../test/support.ts';
import { Prisma } from '../db/database.ts';
import { commitBatch } from '../messages/batch.ts';
import { appendMessages } from '../messages/messages.ts';
import { createRoom, addMember, leaveRoom } from '../rooms/rooms.ts';
import type { Services } from '../services.ts';
import { registerUser } from '../users/users.ts';
import { toTsQueryText } from './query.ts';
import { searchMessages, type SearchOptions } from './search.ts';

/**
 * The two steps of a search (the recent window and the GIN index, core/search/search.ts)
 * against a reference computed here, on the run's database: whichever step answers, paging
 * visits exactly the matches, once each, newest first.
 */

let services: Services;

beforeAll(async () => {
  services = await sharedServices();
});

describe('toTsQueryText', () => {
  it('never lets the text become tsquery syntax: any text parses, as the AND of its words', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({
          unit: fc.constantFrom(
            'a',
            'É',
            'я',
            '東',
            '1',
            ' ',
            "'",
            '\\',
            '&',
            '|',
            '!',
            '(',
            ')',
            ':',
            '*',
            '<',
            '-',
            '>',
          ),
          maxLength: 40,
        }),
        async (q) => {
          const text = toTsQueryText(q);
          if (text === null) return;
          const [row] = await services.db.prisma.$queryRaw<{ q: string }[]>(
            Prisma.sql`SELECT to_tsquery('simple', ${text})::text AS q`,
          );
          // Outside the quoted lexemes only AND, phrase (a hyphenated word is indexed as one),
          // grouping and the prefix marker: no OR and no NOT can come out of any input.
          expect(row!.q.replace(/'(?:[^']|'')*'/g, ''), `${q} → ${row!.q}`).toMatch(/^[\s&()<>\-:*0-9]*$/);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('is null for text without a letter or digit', () => {
    expect(toTsQueryText('  ?! ... -- ')).toBeNull();
    expect(toTsQueryText('a')).toBe("'a':*");
    expect(toTsQueryText("it's a\\b x")).toBe("'it''s' & 'a\\\\b' & 'x':*");
  });
});

const VOCABULARY = ['alpha', 'alps', 'beta', 'bet', 'gamma', 'delta'];

describe('searchMessages', () => {
  it('pages through exactly the matches, newest first, whichever step answers', async () => {
    const tag = uniqueName('s').replace(/_/g, '');
    const alice = await registerUser(services.db, uniqueName('alice'), 'search password');
    const bob = await registerUser(services.db, uniqueName('bob'), 'search password');
    const rooms = [
      await createRoom(services.db, alice.id, 'a'),
      await createRoom(services.db, alice.id, 'b'),
      await createRoom(services.db, bob.id, 'bob only'),
      await createRoom(services.db, alice.id, 'left'),
    ];
    await addMember(services.db, rooms[1]!.id, alice.id, bob.username);
    const stored: { id: string; roomId: string; ts: number; words: string[]; gone: boolean }[] = [];
    const random = fc.sample(fc.array(fc.constantFrom(...VOCABULARY), { minLength: 1, maxLength: 4 }), {
      numRuns: 240,
      seed: 13,
    });
    let ts = Date.now();
    for (let i = 0; i < random.length; i += 6) {
      const room = rooms[(i / 6) % rooms.length]!;
      const owner = room.ownerId!;
      const batch = random.slice(i, i + 6);
      // Six messages per millisecond, so pages split bursts that share one ts.
      const results = await appendMessages(
        services.db,
        room.id,
        batch.map((w) => ({
          userId: owner,
          name: 'n',
          text: `${tag} ${w.join(' ')}`,
          clientMsgId: null,
          attachmentId: null,
        })),
        () => ts,
      );
      for (const [k, r] of results.entries()) {
        if (!r.ok) throw new Error(r.error.message);
        stored.push({ id: r.message.id, roomId: room.id, ts, words: batch[k]!, gone: false });
      }
      ts += (i / 6) % 3 === 0 ? 0 : 1;
    }
    // Edits and deletes change what matches.
    for (const [k, m] of stored.entries()) {
      const owner = rooms.find((r) => r.id === m.roomId)!.ownerId!;
      if (k % 11 === 0) {
        await commitBatch(services.db, m.roomId, [{ kind: 'delete', userId: owner, messageId: m.id }]);
        m.gone = true;
      } else if (k % 7 === 0) {
        await commitBatch(services.db, m.roomId, [
          { kind: 'edit', userId: owner, messageId: m.id, text: `${tag} delta edited` },
        ]);
        m.words = ['delta', 'edited'];
      }
    }
    await leaveRoom(services.db, rooms[3]!.id, alice.id);
    const aliceRooms = new Set([rooms[0]!.id, rooms[1]!.id]);

    const reference = (q: string[]) =>
      stored
        .filter((m) => aliceRooms.has(m.roomId) && !m.gone)
        .filter((m) =>
          q.every((w, i) => m.words.some((x) => (i === q.length - 1 ? x.startsWith(w) : x === w))),
        )
        .sort((a, b) => b.ts - a.ts || (a.id < b.id ? 1 : -1))
        .map((m) => m.id);

    const pageThrough = async (q: string, limit: number, options: SearchOptions) => {
      const ids: string[] = [];
      const via = new Set<string>();
      let cursor: string | undefined;
      for (let pages = 0; pages < 500; pages++) {
        const page = await searchMessages(services.db, alice.id, { q, limit, cursor }, options);
        ids.push(...page.messages.map((m) => m.id));
        via.add(page.via);
        if (page.nextCursor === null) return { ids, via };
        cursor = page.nextCursor;
      }
      throw new Error('paging does not end');
    };

    const seenVia = new Set<string>();
    for (const words of [['al'], ['bet'], ['beta', 'al'], ['delta', 'edi'], ['zeta']]) {
      const expected = reference(words);
      for (const limit of [3, 50]) {
        for (const windowBudget of [0, 1, 2000]) {
          const got = await pageThrough(`${tag} ${words.join(' ')}`, limit, { windowBudget });
          expect(got.ids, `${words.join(' ')} limit ${limit} budget ${windowBudget}`).toEqual(expected);
          for (const v of got.via) seenVia.add(v);
        }
      }
    }
    expect([...seenVia].sort()).toEqual(['index', 'window']);
    // Hundreds of pages on PGlite, on a machine shared with other test runs.
  }, 180_000);
});
