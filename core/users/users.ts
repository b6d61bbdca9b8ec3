import type { Database } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import { hashPassword, verifyPassword } from './password.ts';
import type { User } from '../schemas.ts';

interface UserRow {
  id: string;
  username: string;
  createdAt: Date;
}

const toWireUser = (u: UserRow): User => ({
  id: u.id,
  username: u.username,
  createdAt: u.createdAt.toISOString(),
});

/** Usernames are unique and matched case-insensitively; the key is what is compared. */
export const usernameKey = (username: string): string => username.trim().toLowerCase();

const isUniqueViolation = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'P2002';

export async function registerUser(db: Database, username: string, password: string): Promise<User> {
  const passwordHash = await hashPassword(password);
  try {
    const row = await db.prisma.user.create({
      data: { id: newId(), username, usernameKey: usernameKey(username), passwordHash },
    });
    return toWireUser(row);
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('username_taken', 'That username is taken');
    throw err;
  }
}

/** Only a string that could be a username is looked up (Postgres rejects NUL in text, for one). */
const USERNAME = /^[a-z0-9_.-]{3,32}$/;
const findByKey = (db: Database, username: string) => {
  const key = usernameKey(username);
  return USERNAME.test(key)
    ? db.prisma.user.findUnique({ where: { usernameKey: key } })
    : Promise.resolve(null);
};

/** The user whose credentials these are, or null. Costs the same whether or not the user exists. */
export async function authenticate(db: Database, username: string, password: string): Promise<User | null> {
  const row = await findByKey(db, username);
  const ok = await verifyPassword(row?.passwordHash, password);
  return ok && row ? toWireUser(row) : null;
}

export async function findUserById(db: Database, id: string): Promise<User | null> {
  const row = await db.prisma.user.findUnique({ where: { id } });
  return row ? toWireUser(row) : null;
}

export async function findUserByUsername(db: Database, username: string): Promise<User | null> {
  const row = await findByKey(db, username);
  return row ? toWireUser(row) : null;
}
