import { databaseReady, databaseUrl } from './database';
import { migrateFunction, nodejsInstall } from './lambdas';
import { vpc } from './network';
import { lambdaRuntime } from './stage';

/**
 * Migrations run exactly once per deploy, before new code serves: the Migrate function is
 * invoked during `sst deploy`, and every function and task takes the schema version it
 * returned as an environment variable, so none of them can be updated before it succeeded.
 * A failed migration fails the deploy with the old code still serving. The runner holds
 * Prisma's advisory lock, so a concurrent `prisma migrate deploy` or a second deploy waits.
 */
const migrator = new sst.aws.Function(migrateFunction.name, {
  handler: migrateFunction.handler,
  runtime: lambdaRuntime,
  timeout: '5 minutes',
  memory: '512 MB',
  vpc,
  copyFiles: [...migrateFunction.copyFiles],
  // Same bundling as every function (scripts/build-functions.ts verifies exactly this).
  nodejs: { install: nodejsInstall },
  // Everything scripts/migrate.ts reads (core/config.ts loadMigrationConfig), nothing more:
  // no session secret, and no DATA_DIR (the task root is read-only).
  environment: {
    DATABASE_URL: databaseUrl,
    DATABASE_CONNECT_TIMEOUT_MS: '10000',
    NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    LOG_LEVEL: 'info',
  },
});

const invocation = new aws.lambda.Invocation(
  'MigrateOnDeploy',
  {
    functionName: migrator.name,
    // A new input each deploy re-invokes it; applying is a no-op when nothing is pending.
    input: JSON.stringify({ deployedAt: new Date().toISOString(), stage: $app.stage }),
  },
  // Behind RDS Proxy the first connection fails until the instance is registered as its target.
  { dependsOn: databaseReady },
);

/** The newest migration in the database after this deploy's run, e.g. 20260101000000_init. */
export const schemaVersion = invocation.result.apply((result) => {
  const parsed = JSON.parse(result) as { latest?: string };
  if (!parsed.latest) throw new Error(`Migrate returned no schema version: ${result}`);
  return parsed.latest;
});
