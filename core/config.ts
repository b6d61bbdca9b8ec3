import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { z } from 'zod';

/**
 * The only module that reads the environment. Every variable is validated here once, and a
 * bad value stops start-up with a message naming each offending variable.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalUrl = z.url().optional();

const DEFAULT_UPLOAD_MIME_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
  'text/plain',
  'video/mp4',
  'audio/mpeg',
];
// Types that a browser would execute or render as active content from our origin.
const FORBIDDEN_MIME = /(html|svg|xml|javascript|ecmascript)/;

const EnvSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: int(0, 65535).default(3000),
    HOST: z.string().min(1).optional(),
    DATA_DIR: z.string().min(1).default('.data'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    DATABASE_POOL_MAX: int(1, 1000).default(10),
    DATABASE_CONNECT_TIMEOUT_MS: int(100, 120_000).default(5_000),
    DATABASE_STATEMENT_TIMEOUT_MS: int(100, 600_000).default(15_000),
    // Client side: a query whose answer never comes (packets dropped) fails after this long.
    DATABASE_QUERY_TIMEOUT_MS: int(100, 600_000).optional(),
    // Set by the AWS Lambda runtime (not by us): Lambdas reach Postgres through RDS Proxy.
    AWS_LAMBDA_FUNCTION_NAME: z.string().optional(),
    // The longest a REST request may take before it is answered 503 unavailable.
    REQUEST_TIMEOUT_MS: int(500, 600_000).optional(),
    MIGRATE_ON_START: bool.default(true),

    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_:.-]*$/, 'letters, digits and _ : . - only')
      .default(''),

    S3_ENDPOINT: optionalUrl,
    S3_REGION: z.string().min(1).optional(),
    S3_BUCKET: z.string().min(3).max(63).optional(),
    S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    S3_FORCE_PATH_STYLE: bool.optional(),
    UPLOAD_METHOD: z.enum(['post', 'put']).optional(),
    LOCAL_S3_PORT: int(0, 65535).default(0),
    // attachments.bytes is a 32-bit integer column.
    MAX_UPLOAD_BYTES: int(1, 2 ** 31 - 1).default(10 * 1024 * 1024),
    // A signed upload lives at most 10 minutes: a leaked one soon becomes useless.
    UPLOAD_URL_EXPIRES_SECONDS: int(10, 600).default(300),
    DOWNLOAD_URL_EXPIRES_SECONDS: int(10, 7 * 24 * 3600).default(900),
    // Completed uploads never attached to a message are deleted after this long.
    UPLOAD_UNSENT_TTL_SECONDS: int(900, 90 * 24 * 3600).default(24 * 3600),
    // How often a long-running server sweeps orphaned uploads; 0 disables (e.g. a scheduled function does it).
    UPLOAD_SWEEP_INTERVAL_SECONDS: int(0, 24 * 3600).default(600),
    UPLOAD_MIME_TYPES: z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((t) => t.trim().toLowerCase())
          .filter(Boolean),
      )
      .pipe(
        z
          .array(
            z
              .string()
              .regex(/^[a-z0-9.+-]+\/[a-z0-9.+-]+$/, 'each entry a type/subtype')
              .refine((t) => !FORBIDDEN_MIME.test(t), 'html, svg, xml and javascript are never allowed'),
          )
          .min(1),
      )
      .optional(),

    JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    SESSION_TTL_SECONDS: int(60, 90 * 24 * 3600).default(7 * 24 * 3600),
    COOKIE_SECURE: bool.optional(),
    CORS_ORIGINS: z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((o) => o.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.url().transform((u) => new URL(u).origin)).min(1))
      .optional(),
    TRUST_PROXY_HOPS: int(0, 10).default(0),
    CLIENT_ADDRESS_HEADER: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'a header name')
      .transform((h) => h.toLowerCase())
      .optional(),
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),

    RATE_LIMIT_REGISTER_PER_HOUR: int(1, 1_000_000).default(300),
    RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME: int(1, 1_000_000).default(10),
    RATE_LIMIT_LOGIN_FAILURES_PER_ADDRESS: int(1, 1_000_000).default(100),
    RATE_LIMIT_LOGIN_WINDOW_SECONDS: int(1, 86_400).default(900),
    RATE_LIMIT_MESSAGE_PER_SECOND: int(1, 1_000_000).default(10),
    RATE_LIMIT_MESSAGE_PER_10_SECONDS: int(1, 10_000_000).default(30),
    RATE_LIMIT_TYPING_PER_SECOND: int(1, 1_000_000).default(5),
    RATE_LIMIT_TYPING_PER_10_SECONDS: int(1, 10_000_000).default(20),
    RATE_LIMIT_JOIN_PER_SECOND: int(1, 1_000_000).default(20),
    RATE_LIMIT_JOIN_PER_10_SECONDS: int(1, 10_000_000).default(100),
    RATE_LIMIT_LEAVE_PER_SECOND: int(1, 1_000_000).default(20),
    RATE_LIMIT_LEAVE_PER_10_SECONDS: int(1, 10_000_000).default(100),
    RATE_LIMIT_UNKNOWN_EVENT_PER_SECOND: int(1, 1_000_000).default(5),
    RATE_LIMIT_UNKNOWN_EVENT_PER_10_SECONDS: int(1, 10_000_000).default(20),
    // Refused events per connection in 10 s after which the connection is closed; 0: never.
    RATE_LIMIT_DISCONNECT_AFTER_REFUSALS: int(0, 10_000_000).default(100),
    // After such a disconnect, the user's new handshakes are refused this long (doubling on
    // each repeat within 10 minutes, at most 16 times over); 0: never.
    RATE_LIMIT_RECONNECT_COOLDOWN_SECONDS: int(0, 3_600).default(10),
    RATE_LIMIT_USER_MULTIPLIER: int(1, 1000).default(2),
    RATE_LIMIT_UNKNOWN_USERNAME_LOOKUPS: int(1, 1_000_000).default(20),
    RATE_LIMIT_UNKNOWN_USERNAME_WINDOW_SECONDS: int(1, 86_400).default(900),
    RATE_LIMIT_USERNAME_LOOKUPS_PER_ADDRESS_PER_HOUR: int(1, 10_000_000).default(600),
    RATE_LIMIT_UPLOAD_INIT_PER_HOUR: int(1, 10_000_000).default(120),
    RATE_LIMIT_REACT_PER_SECOND: int(1, 1_000_000).default(5),
    RATE_LIMIT_REACT_PER_10_SECONDS: int(1, 10_000_000).default(20),
    // Every message that scrolls into view may move a read marker: generous by default.
    RATE_LIMIT_READ_PER_SECOND: int(1, 1_000_000).default(10),
    RATE_LIMIT_READ_PER_10_SECONDS: int(1, 10_000_000).default(50),
    MAX_SOCKETS_PER_USER: int(1, 10_000).default(20),

    // How often pending read markers are written (each member and room at most once per
    // interval); also the most a crash can set a marker back by.
    READ_MARKER_FLUSH_MS: int(100, 600_000).default(1_000),
    PRESENCE_HEARTBEAT_MS: int(500, 600_000).default(15_000),
    PRESENCE_TTL_MS: int(1_000, 3_600_000).default(45_000),
    SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(10_000),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production' && !env.JWT_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'is required when NODE_ENV=production' });
    }
    if (env.NODE_ENV === 'production' && !env.CORS_ORIGINS) {
      ctx.addIssue({
        code: 'custom',
        path: ['CORS_ORIGINS'],
        message: 'is required when NODE_ENV=production',
      });
    }
    // Any S3_* means "use this store": without a bucket it would be ignored, silently.
    const s3Set = (
      ['S3_ENDPOINT', 'S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE'] as const
    ).filter((k) => env[k] !== undefined);
    if (!env.S3_BUCKET && s3Set.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['S3_BUCKET'],
        message: `is required when any other S3_* is set (${s3Set.join(', ')} is)`,
      });
    }
    if (Boolean(env.S3_ACCESS_KEY_ID) !== Boolean(env.S3_SECRET_ACCESS_KEY)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.S3_ACCESS_KEY_ID ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID'],
        message: 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together',
      });
    }
    if (env.PRESENCE_TTL_MS <= env.PRESENCE_HEARTBEAT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['PRESENCE_TTL_MS'],
        message: 'must be greater than PRESENCE_HEARTBEAT_MS',
      });
    }
  });

type Env = z.output<typeof EnvSchema>;

export interface RateRule {
  limit: number;
  windowMs: number;
}

/** The parsed configuration: its shape is what buildConfig returns (one definition, no restatement). */
export type Config = ReturnType<typeof buildConfig>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type EnvInput = Record<string, string | undefined>;

export interface LoadOptions {
  /**
   * The JWT secret when JWT_SECRET is unset (never in production). Default: a random one for
   * this process; the entry points pass one kept in DATA_DIR (core/development-secret.ts).
   */
  developmentSecret?: (dataDir: string) => string;
}

const ephemeralSecret = () => randomBytes(48).toString('base64url');

/** Parses configuration from an environment-like object (process.env by default). */
export function loadConfig(source: EnvInput = process.env, options: LoadOptions = {}): Config {
  // An empty variable means "unset": shells and .env files often export VAR= for that.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${String(i.path[0] ?? '(environment)')}: ${i.message}`),
    );
  }
  return buildConfig(parsed.data, options);
}

/** The configuration from validated variables: defaults derived from others, units converted. */
function buildConfig(env: Env, options: LoadOptions) {
  const production = env.NODE_ENV === 'production';
  const dataDir = env.DATA_DIR === ':memory:' ? ':memory:' : resolve(env.DATA_DIR);
  const isR2 =
    env.S3_ENDPOINT !== undefined && /\.r2\.cloudflarestorage\.com$/i.test(new URL(env.S3_ENDPOINT).hostname);
  const uploadMethod: 'post' | 'put' = env.UPLOAD_METHOD ?? (isR2 ? 'put' : 'post');
  const rule = (limit: number, windowMs: number): RateRule => ({ limit, windowMs });

  return {
    env: env.NODE_ENV,
    production,
    port: env.PORT,
    host: env.HOST,
    dataDir,
    logLevel: env.LOG_LEVEL,
    database: {
      /** Unset: embedded PGlite in `<dataDir>/pglite` (or in memory when dataDir is ':memory:'). */
      url: env.DATABASE_URL,
      poolMax: env.DATABASE_POOL_MAX,
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
      /** Client-side bound on one query (default: the statement timeout + 1 s). */
      queryTimeoutMs: env.DATABASE_QUERY_TIMEOUT_MS ?? env.DATABASE_STATEMENT_TIMEOUT_MS + 1_000,
      migrateOnStart: env.MIGRATE_ON_START,
      /**
       * Whether Database.query may prepare statements by name. Not in Lambda: behind RDS Proxy
       * a named statement pins the client's session to one database connection.
       */
      preparedStatements: env.AWS_LAMBDA_FUNCTION_NAME === undefined,
    },
    redis: { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX },
    storage: {
      /** Unset bucket: an embedded S3-compatible store (s3rver) on loopback. */
      bucket: env.S3_BUCKET,
      endpoint: env.S3_ENDPOINT,
      region: env.S3_REGION ?? 'us-east-1',
      accessKeyId: env.S3_ACCESS_KEY_ID,
      secretAccessKey: env.S3_SECRET_ACCESS_KEY,
      forcePathStyle: env.S3_FORCE_PATH_STYLE,
      uploadMethod,
      localPort: env.LOCAL_S3_PORT,
      maxUploadBytes: env.MAX_UPLOAD_BYTES,
      allowedMimeTypes: env.UPLOAD_MIME_TYPES ?? DEFAULT_UPLOAD_MIME_TYPES,
      uploadUrlExpiresSeconds: env.UPLOAD_URL_EXPIRES_SECONDS,
      downloadUrlExpiresSeconds: env.DOWNLOAD_URL_EXPIRES_SECONDS,
      unsentTtlMs: env.UPLOAD_UNSENT_TTL_SECONDS * 1000,
      /** 0: no in-process sweep. */
      sweepIntervalMs: env.UPLOAD_SWEEP_INTERVAL_SECONDS * 1000,
    },
    auth: {
      jwtSecret: env.JWT_SECRET ?? (options.developmentSecret ?? ephemeralSecret)(dataDir),
      sessionTtlSeconds: env.SESSION_TTL_SECONDS,
      cookieSecure: env.COOKIE_SECURE ?? production,
    },
    corsOrigins: env.CORS_ORIGINS ?? [`http://localhost:${env.PORT}`, `http://127.0.0.1:${env.PORT}`],
    // A database that does not answer is noticed by the connect timeout: a request waits at
    // most that long for a connection, plus 750 ms for its work, so that even the 503 arrives
    // within connect timeout + 1 s.
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS ?? env.DATABASE_CONNECT_TIMEOUT_MS + 750,
    /** Proxies in front of us that append to X-Forwarded-For; 0: use the socket's address. */
    trustProxyHops: env.TRUST_PROXY_HOPS,
    /** A header a trusted proxy sets to the client's address (`ip` or `ip:port`); wins over hops. */
    clientAddressHeader: env.CLIENT_ADDRESS_HEADER,
    metricsToken: env.METRICS_TOKEN,
    limits: {
      registerPerHour: env.RATE_LIMIT_REGISTER_PER_HOUR,
      loginFailuresPerUsername: env.RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME,
      loginFailuresPerAddress: env.RATE_LIMIT_LOGIN_FAILURES_PER_ADDRESS,
      loginWindowMs: env.RATE_LIMIT_LOGIN_WINDOW_SECONDS * 1000,
      message: [
        rule(env.RATE_LIMIT_MESSAGE_PER_SECOND, 1_000),
        rule(env.RATE_LIMIT_MESSAGE_PER_10_SECONDS, 10_000),
      ],
      typing: [
        rule(env.RATE_LIMIT_TYPING_PER_SECOND, 1_000),
        rule(env.RATE_LIMIT_TYPING_PER_10_SECONDS, 10_000),
      ],
      join: [rule(env.RATE_LIMIT_JOIN_PER_SECOND, 1_000), rule(env.RATE_LIMIT_JOIN_PER_10_SECONDS, 10_000)],
      leave: [
        rule(env.RATE_LIMIT_LEAVE_PER_SECOND, 1_000),
        rule(env.RATE_LIMIT_LEAVE_PER_10_SECONDS, 10_000),
      ],
      unknownEvent: [
        rule(env.RATE_LIMIT_UNKNOWN_EVENT_PER_SECOND, 1_000),
        rule(env.RATE_LIMIT_UNKNOWN_EVENT_PER_10_SECONDS, 10_000),
      ],
      disconnectAfterRefusals: env.RATE_LIMIT_DISCONNECT_AFTER_REFUSALS,
      reconnectCooldownMs: env.RATE_LIMIT_RECONNECT_COOLDOWN_SECONDS * 1000,
      react: [
        rule(env.RATE_LIMIT_REACT_PER_SECOND, 1_000),
        rule(env.RATE_LIMIT_REACT_PER_10_SECONDS, 10_000),
      ],
      read: [rule(env.RATE_LIMIT_READ_PER_SECOND, 1_000), rule(env.RATE_LIMIT_READ_PER_10_SECONDS, 10_000)],
      userMultiplier: env.RATE_LIMIT_USER_MULTIPLIER,
      unknownUsernameLookups: {
        limit: env.RATE_LIMIT_UNKNOWN_USERNAME_LOOKUPS,
        windowMs: env.RATE_LIMIT_UNKNOWN_USERNAME_WINDOW_SECONDS * 1000,
      },
      usernameLookupsPerAddress: rule(env.RATE_LIMIT_USERNAME_LOOKUPS_PER_ADDRESS_PER_HOUR, 3_600_000),
      uploadInitPerUser: rule(env.RATE_LIMIT_UPLOAD_INIT_PER_HOUR, 3_600_000),
      maxSocketsPerUser: env.MAX_SOCKETS_PER_USER,
    },
    presence: { heartbeatMs: env.PRESENCE_HEARTBEAT_MS, ttlMs: env.PRESENCE_TTL_MS },
    readMarkerFlushMs: env.READ_MARKER_FLUSH_MS,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
  };
}

/** What the deploy-time migration runner needs: the database, nothing else (no secret, no DATA_DIR). */
export interface MigrationConfig {
  databaseUrl: string;
  connectTimeoutMs: number;
  logLevel: Env['LOG_LEVEL'];
}

const MigrationEnvSchema = z.object({
  DATABASE_URL: EnvSchema.shape.DATABASE_URL.unwrap(),
  DATABASE_CONNECT_TIMEOUT_MS: EnvSchema.shape.DATABASE_CONNECT_TIMEOUT_MS,
  LOG_LEVEL: EnvSchema.shape.LOG_LEVEL,
});

/** Parses only the migration runner's variables, with the same rules and messages as loadConfig. */
export function loadMigrationConfig(source: EnvInput = process.env): MigrationConfig {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = MigrationEnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${String(i.path[0] ?? '(environment)')}: ${i.message}`),
    );
  }
  return {
    databaseUrl: parsed.data.DATABASE_URL,
    connectTimeoutMs: parsed.data.DATABASE_CONNECT_TIMEOUT_MS,
    logLevel: parsed.data.LOG_LEVEL,
  };
}
