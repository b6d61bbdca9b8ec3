import { vpc } from './network';
import { sizing } from './stage';

/**
 * Resolves with the RDS Proxy's target once the Postgres component registers it. The
 * component creates it inside an `apply` and does not expose it, so a stack transformation
 * (the mechanism SST's own `$transform` uses) hands it over: the Migrate invocation then
 * waits for the instance to be registered behind the proxy.
 */
function proxyTargetOf(componentName: string): Promise<$util.Resource> {
  return new Promise((resolve) => {
    $util.runtime.registerStackTransformation((input) => {
      if (input.type === 'aws:rds/proxyTarget:ProxyTarget' && input.name === `${componentName}ProxyTarget`) {
        resolve(input.resource);
      }
      return undefined;
    });
  });
}

const proxyTarget = sizing.databaseProxy ? proxyTargetOf('Database') : undefined;

export const database = new sst.aws.Postgres('Database', {
  vpc,
  version: '17',
  instance: sizing.databaseInstance,
  proxy: sizing.databaseProxy,
  transform: {
    // SST's parameter group turns TLS enforcement off (rds.force_ssl=0); Parley's clients
    // all use TLS, so the server refuses plain connections too.
    parameterGroup: (args) => {
      args.parameters = [
        ...((args.parameters ?? []) as { name: string; value: string }[]).filter(
          (p) => p.name !== 'rds.force_ssl',
        ),
        // pending-reboot is accepted whether the engine treats it as static or dynamic: new
        // instances start with it; an existing one enforces it after its next reboot.
        { name: 'rds.force_ssl', value: '1', applyMethod: 'pending-reboot' },
      ];
    },
  },
});

/** What must exist before the first migration can connect: the proxy target, on stages with a proxy. */
export const databaseReady: Promise<$util.Resource>[] = proxyTarget ? [proxyTarget] : [];

/**
 * DATABASE_URL for the app. TLS is required from both ends: the parameter group above sets
 * rds.force_ssl=1, and sslmode=verify-full makes the client check the server against the
 * Amazon RDS CA that NODE_EXTRA_CA_CERTS loads (the Lambda runtime's bundle, or the one
 * baked into the realtime image). With a proxy, `host` is the proxy endpoint (the proxy
 * terminates TLS with a certificate from the same CA).
 */
export const databaseUrl = $interpolate`postgresql://${database.username}:${database.password.apply(encodeURIComponent)}@${database.host}:${database.port}/${database.database}?sslmode=verify-full`;
