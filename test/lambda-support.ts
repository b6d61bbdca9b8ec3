import { randomUUID } from 'node:crypto';
import { vi } from 'vitest';
import { TEST_JWT_SECRET, testMode } from './support.ts';

/** What a Function URL (payload v2) invocation answers. */
export interface UrlResult {
  statusCode: number;
  headers?: Record<string, string>;
  cookies?: string[];
  body?: string;
  isBase64Encoded?: boolean;
}
export type LambdaHandler = (event: unknown, context: unknown) => Promise<UrlResult>;

export interface EventOptions {
  body?: unknown;
  cookies?: string[];
  query?: string;
  ip?: string;
}

/** A Function URL event as AWS sends it, payload format 2.0. */
export function functionUrlEvent(method: string, path: string, opts: EventOptions = {}) {
  const host = 'abcdefg.lambda-url.eu-west-1.on.aws';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: opts.query ?? '',
    ...(opts.cookies ? { cookies: opts.cookies } : {}),
    headers: {
      host,
      'user-agent': 'vitest',
      'x-forwarded-proto': 'https',
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(opts.query ? { queryStringParameters: Object.fromEntries(new URLSearchParams(opts.query)) } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abcdefg',
      domainName: host,
      domainPrefix: 'abcdefg',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: opts.ip ?? '203.0.113.10', userAgent: 'vitest' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    isBase64Encoded: false,
  };
}

export const lambdaContext = {
  awsRequestId: 'test',
  functionName: 'parley-test',
  getRemainingTimeInMillis: () => 10_000,
};

export const jsonBody = <T = Record<string, unknown>>(r: UrlResult): T => JSON.parse(r.body ?? 'null') as T;

/** The environment a deployed function reads, pointed at this run's services. Undo with vi.unstubAllEnvs(). */
export function stubLambdaEnv(): void {
  vi.stubEnv('NODE_ENV', 'production');
  vi.stubEnv('JWT_SECRET', TEST_JWT_SECRET);
  vi.stubEnv('CORS_ORIGINS', 'https://chat.example.com');
  vi.stubEnv('LOG_LEVEL', 'silent');
  vi.stubEnv('DATA_DIR', ':memory:');
  vi.stubEnv('DATABASE_URL', testMode.databaseUrl ?? '');
  vi.stubEnv('REDIS_URL', testMode.redisUrl ?? '');
  vi.stubEnv('REDIS_KEY_PREFIX', testMode.redisPrefix);
}
