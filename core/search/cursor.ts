import { z } from 'zod';
import { invalid } from '../errors.ts';

/**
 * The search page cursor: the (ts, id) key of the last message of a page, as base64url JSON.
 * Opaque to clients; anything we did not issue is `400 invalid_request`.
 */
export interface SearchKey {
  ts: number;
  id: string;
}

const Key = z.strictObject({
  ts: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  id: z
    .string()
    .min(1)
    .max(128)
    .refine((s) => !s.includes('\u0000')),
});

export const encodeCursor = (key: SearchKey): string =>
  Buffer.from(JSON.stringify({ ts: key.ts, id: key.id }), 'utf8').toString('base64url');

export function decodeCursor(cursor: string): SearchKey {
  const refuse = () =>
    invalid('Invalid query', [{ path: 'cursor', message: 'not a cursor this server issued' }]);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw refuse();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  const key = Key.safeParse(parsed);
  if (!key.success) throw refuse();
  return key.data;
}
