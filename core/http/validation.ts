import { zValidator } from '@hono/zod-validator';
import type { ZodType } from 'zod';
import { AppError } from '../errors.ts';

type Target = 'json' | 'query' | 'param';

/**
 * Strict request validation answering with the contract's `invalid_request` and the
 * offending paths. JSON bodies must be JSON objects sent as application/json.
 */
export const validate = <T extends ZodType, K extends Target>(target: K, schema: T) =>
  zValidator(target, schema, (result) => {
    if (!result.success) {
      const issues = result.error.issues.map((i) => ({
        path: i.path.map(String).join('.') || '(root)',
        message: i.message,
      }));
      throw new AppError('invalid_request', `Invalid ${target === 'json' ? 'body' : target}`, { issues });
    }
  });
