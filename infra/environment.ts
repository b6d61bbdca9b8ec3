import { databaseUrl } from './database';
import { redisUrl } from './redis';
import { publicOrigin } from './router';
import { secrets } from './secrets';
import { storageEnvironment } from './storage';

/**
 * The same variables core/config.ts reads everywhere else, composed from the linked
 * resources. Both tiers get them; each adds its own pool size and port.
 */
export function appEnvironment(
  extra: Record<string, $util.Input<string>>,
): Record<string, $util.Input<string>> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    DATABASE_CONNECT_TIMEOUT_MS: '5000',
    DATABASE_STATEMENT_TIMEOUT_MS: '15000',
    // Migrations run once per deploy in the Migrate function (infra/migrations.ts).
    MIGRATE_ON_START: 'false',
    REDIS_URL: redisUrl,
    // Pub/sub channels ignore the DB index: the prefix keeps stages sharing a cluster apart.
    REDIS_KEY_PREFIX: `parley:${$app.stage}:`,
    JWT_SECRET: secrets.jwtSecret.value,
    METRICS_TOKEN: secrets.metricsToken.value,
    CORS_ORIGINS: publicOrigin,
    COOKIE_SECURE: 'true',
    // The viewer's address as CloudFront saw it. Not X-Forwarded-For: a Function URL keeps
    // only that header's leftmost entry, which the client writes (docs/deploy.md).
    CLIENT_ADDRESS_HEADER: 'cloudfront-viewer-address',
    ...storageEnvironment(),
    ...extra,
  };
}
