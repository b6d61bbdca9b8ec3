import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadMigrationConfig } from './config.ts';
import { developmentSecret } from './development-secret.ts';

const dir = mkdtempSync(join(tmpdir(), 'parley-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const problems = (env: Record<string, string>) => {
  try {
    loadConfig({ DATA_DIR: dir, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('prepares statements by name except inside AWS Lambda (RDS Proxy would pin the session)', () => {
    expect(loadConfig({ DATA_DIR: dir }).database.preparedStatements).toBe(true);
    expect(
      loadConfig({ DATA_DIR: dir, AWS_LAMBDA_FUNCTION_NAME: 'parley-messages' }).database.preparedStatements,
    ).toBe(false);
  });

  it('runs on embedded defaults with nothing set', () => {
    const c = loadConfig({ DATA_DIR: dir });
    expect(c.port).toBe(3000);
    expect(c.database.url).toBeUndefined();
    expect(c.redis.url).toBeUndefined();
    expect(c.storage.bucket).toBeUndefined();
    expect(c.auth.cookieSecure).toBe(false);
    expect(c.corsOrigins).toEqual(['http://localhost:3000', 'http://127.0.0.1:3000']);
    expect(c.storage.maxUploadBytes).toBe(10 * 1024 * 1024);
    expect(c.limits.message).toEqual([
      { limit: 10, windowMs: 1000 },
      { limit: 30, windowMs: 10_000 },
    ]);
  });

  it('writes nothing itself: without JWT_SECRET a process gets a random secret unless its entry point keeps one', () => {
    const a = loadConfig({ DATA_DIR: dir }).auth.jwtSecret;
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig({ DATA_DIR: dir }).auth.jwtSecret).not.toBe(a);
    expect(existsSync(join(dir, 'jwt-secret'))).toBe(false);
  });

  it('the entry points generate a development JWT secret once and keep it in DATA_DIR (mode 600)', () => {
    const a = loadConfig({ DATA_DIR: dir }, { developmentSecret }).auth.jwtSecret;
    const b = loadConfig({ DATA_DIR: dir }, { developmentSecret }).auth.jwtSecret;
    expect(a).toBe(b);
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(readFileSync(join(dir, 'jwt-secret'), 'utf8').trim()).toBe(a);
    expect(statSync(join(dir, 'jwt-secret')).mode & 0o777).toBe(0o600);
  });

  it('names every bad variable at once', () => {
    const p = problems({
      PORT: 'eighty',
      DATABASE_URL: 'mysql://x',
      COOKIE_SECURE: 'maybe',
      RATE_LIMIT_MESSAGE_PER_SECOND: '0',
    });
    expect(p.map((x) => x.split(':')[0]).sort()).toEqual(
      ['COOKIE_SECURE', 'DATABASE_URL', 'PORT', 'RATE_LIMIT_MESSAGE_PER_SECOND'].sort(),
    );
  });

  it('requires JWT_SECRET and CORS_ORIGINS in production', () => {
    const p = problems({ NODE_ENV: 'production' });
    expect(p.some((x) => x.startsWith('JWT_SECRET:'))).toBe(true);
    expect(p.some((x) => x.startsWith('CORS_ORIGINS:'))).toBe(true);
    expect(problems({ JWT_SECRET: 'short' })[0]).toMatch(/^JWT_SECRET: .*32/);
  });

  it('production turns Secure cookies on unless told otherwise', () => {
    const base = {
      NODE_ENV: 'production',
      JWT_SECRET: 'x'.repeat(40),
      CORS_ORIGINS: 'https://chat.example.com/',
    };
    expect(loadConfig(base).auth.cookieSecure).toBe(true);
    expect(loadConfig({ ...base, COOKIE_SECURE: 'false' }).auth.cookieSecure).toBe(false);
    expect(loadConfig(base).corsOrigins).toEqual(['https://chat.example.com']);
  });

  it('defaults uploads to PUT for an R2 endpoint and POST elsewhere', () => {
    const s3 = { S3_BUCKET: 'bucket', S3_ACCESS_KEY_ID: 'a', S3_SECRET_ACCESS_KEY: 'b' };
    expect(
      loadConfig({ DATA_DIR: dir, ...s3, S3_ENDPOINT: 'https://acct.r2.cloudflarestorage.com' }).storage
        .uploadMethod,
    ).toBe('put');
    expect(loadConfig({ DATA_DIR: dir, ...s3 }).storage.uploadMethod).toBe('post');
    expect(loadConfig({ DATA_DIR: dir, ...s3, UPLOAD_METHOD: 'put' }).storage.uploadMethod).toBe('put');
    expect(problems({ S3_ACCESS_KEY_ID: 'a' }).length).toBeGreaterThan(0);
  });

  it.each(['S3_REGION', 'S3_ENDPOINT', 'S3_FORCE_PATH_STYLE'])(
    'refuses %s without S3_BUCKET instead of ignoring it',
    (name) => {
      const value =
        name === 'S3_ENDPOINT'
          ? 'https://s3.example.com'
          : name === 'S3_FORCE_PATH_STYLE'
            ? 'true'
            : 'eu-west-1';
      const p = problems({ [name]: value });
      expect(p).toHaveLength(1);
      expect(p[0]).toMatch(
        new RegExp(`^S3_BUCKET: is required when any other S3_\\* is set \\(${name} is\\)`),
      );
      expect(loadConfig({ DATA_DIR: dir, S3_BUCKET: 'bucket', [name]: value }).storage.bucket).toBe('bucket');
      expect(loadConfig({ DATA_DIR: dir }).storage.region).toBe('us-east-1');
    },
  );

  it('derives the query and request timeouts from the database timeouts unless set', () => {
    const c = loadConfig({
      DATA_DIR: dir,
      DATABASE_CONNECT_TIMEOUT_MS: '2000',
      DATABASE_STATEMENT_TIMEOUT_MS: '4000',
    });
    expect(c.database.queryTimeoutMs).toBe(5_000);
    expect(c.requestTimeoutMs).toBe(2_750);
    const set = loadConfig({ DATA_DIR: dir, DATABASE_QUERY_TIMEOUT_MS: '900', REQUEST_TIMEOUT_MS: '1500' });
    expect([set.database.queryTimeoutMs, set.requestTimeoutMs]).toEqual([900, 1_500]);
  });

  it('has a limit for every socket event and the abuse-prone routes, with the documented defaults', () => {
    const { limits } = loadConfig({ DATA_DIR: dir });
    expect(limits.join).toEqual([
      { limit: 20, windowMs: 1_000 },
      { limit: 100, windowMs: 10_000 },
    ]);
    expect(limits.leave).toEqual([
      { limit: 20, windowMs: 1_000 },
      { limit: 100, windowMs: 10_000 },
    ]);
    expect(limits.unknownEvent).toEqual([
      { limit: 5, windowMs: 1_000 },
      { limit: 20, windowMs: 10_000 },
    ]);
    expect(limits.disconnectAfterRefusals).toBe(100);
    expect(limits.reconnectCooldownMs).toBe(10_000);
    expect(limits.unknownUsernameLookups).toEqual({ limit: 20, windowMs: 900_000 });
    expect(limits.usernameLookupsPerAddress).toEqual({ limit: 600, windowMs: 3_600_000 });
    expect(limits.uploadInitPerUser).toEqual({ limit: 120, windowMs: 3_600_000 });
  });

  it('takes the reconnect cool-down in seconds, 0 turning it off, and refuses what is not one', () => {
    expect(
      loadConfig({ DATA_DIR: dir, RATE_LIMIT_RECONNECT_COOLDOWN_SECONDS: '0' }).limits.reconnectCooldownMs,
    ).toBe(0);
    expect(
      loadConfig({ DATA_DIR: dir, RATE_LIMIT_RECONNECT_COOLDOWN_SECONDS: '3' }).limits.reconnectCooldownMs,
    ).toBe(3_000);
    for (const bad of ['-1', '1.5', 'ten', '3601'])
      expect(problems({ RATE_LIMIT_RECONNECT_COOLDOWN_SECONDS: bad })[0]).toMatch(
        /^RATE_LIMIT_RECONNECT_COOLDOWN_SECONDS/,
      );
  });

  it('never allows active content types in the upload allow-list', () => {
    expect(problems({ UPLOAD_MIME_TYPES: 'image/png,image/svg+xml' })[0]).toMatch(/^UPLOAD_MIME_TYPES/);
    expect(problems({ UPLOAD_MIME_TYPES: 'text/html' })[0]).toMatch(/^UPLOAD_MIME_TYPES/);
    expect(
      loadConfig({ DATA_DIR: dir, UPLOAD_MIME_TYPES: 'image/png, Image/JPEG' }).storage.allowedMimeTypes,
    ).toEqual(['image/png', 'image/jpeg']);
  });

  it('has its own react limit (5 a second, 20 per 10 s by default), configurable and validated', () => {
    expect(loadConfig({ DATA_DIR: dir }).limits.react).toEqual([
      { limit: 5, windowMs: 1000 },
      { limit: 20, windowMs: 10_000 },
    ]);
    const c = loadConfig({
      DATA_DIR: dir,
      RATE_LIMIT_REACT_PER_SECOND: '7',
      RATE_LIMIT_REACT_PER_10_SECONDS: '40',
    });
    expect(c.limits.react.map((r) => r.limit)).toEqual([7, 40]);
    expect(
      problems({ RATE_LIMIT_REACT_PER_SECOND: '0', RATE_LIMIT_REACT_PER_10_SECONDS: 'lots' }).sort(),
    ).toEqual([
      expect.stringMatching(/^RATE_LIMIT_REACT_PER_10_SECONDS/),
      expect.stringMatching(/^RATE_LIMIT_REACT_PER_SECOND/),
    ]);
  });

  it('has its own read limit (10 a second, 50 per 10 s by default), configurable and validated', () => {
    expect(loadConfig({ DATA_DIR: dir }).limits.read).toEqual([
      { limit: 10, windowMs: 1000 },
      { limit: 50, windowMs: 10_000 },
    ]);
    const c = loadConfig({
      DATA_DIR: dir,
      RATE_LIMIT_READ_PER_SECOND: '3',
      RATE_LIMIT_READ_PER_10_SECONDS: '9',
    });
    expect(c.limits.read.map((r) => r.limit)).toEqual([3, 9]);
    expect(problems({ RATE_LIMIT_READ_PER_SECOND: '-1' })).toEqual([
      expect.stringMatching(/^RATE_LIMIT_READ_PER_SECOND/),
    ]);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATA_DIR: dir, DATABASE_URL: '', REDIS_URL: '' }).database.url).toBeUndefined();
  });
});

describe('loadMigrationConfig', () => {
  it('needs only DATABASE_URL: no secret, no DATA_DIR, nothing written', () => {
    const config = loadMigrationConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgresql://u:p@db:5432/app?sslmode=verify-full',
    });
    expect(config).toEqual({
      databaseUrl: 'postgresql://u:p@db:5432/app?sslmode=verify-full',
      connectTimeoutMs: 5000,
      logLevel: 'info',
    });
  });

  it('names a missing or bad variable', () => {
    expect(() => loadMigrationConfig({})).toThrow(/DATABASE_URL/);
    expect(() => loadMigrationConfig({ DATABASE_URL: 'mysql://x' })).toThrow(
      /DATABASE_URL: must be a postgres/,
    );
  });
});

describe('CLIENT_ADDRESS_HEADER', () => {
  it('is a header name, lower-cased', () => {
    expect(
      loadConfig({ DATA_DIR: ':memory:', CLIENT_ADDRESS_HEADER: 'CloudFront-Viewer-Address' })
        .clientAddressHeader,
    ).toBe('cloudfront-viewer-address');
    expect(() => loadConfig({ DATA_DIR: ':memory:', CLIENT_ADDRESS_HEADER: 'a b' })).toThrow(
      /CLIENT_ADDRESS_HEADER/,
    );
  });
});
