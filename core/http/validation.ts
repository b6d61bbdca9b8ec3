import type { ZodError } from 'zod';
import { AppError } from '../errors.ts';

/**
 * The validation hook of every route (see openapi.ts): a request that fails its schema is
 * answered `400 invalid_request` with the offending paths. Unknown fields fail too, as every
 * request schema is strict.
 */
export function refuseInvalid(
  result: { target: string } & ({ success: true } | { success: false; error: Pick<ZodError, 'issues'> }),
): void {
  if (result.success) return;
  const issues = result.error.issues.map((i) => ({
    path: i.path.map(String).join('.') || '(root)',
    message: i.message,
  }));
  throw new AppError('invalid_request', `Invalid ${result.target === 'json' ? 'body' : result.target}`, {
    issues,
  });
}
