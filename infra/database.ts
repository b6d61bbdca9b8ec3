import { vpc } from './network';
import { sizing } from './stage';

export const database = new sst.aws.Postgres('Database', {
  vpc,
  version: '17',
  instance: sizing.databaseInstance,
  proxy: sizing.databaseProxy,
});

/**
 * DATABASE_URL for the app. RDS forces TLS (rds.force_ssl=1 on Postgres 15+), and
 * verify-full checks the server against the Amazon RDS CA that NODE_EXTRA_CA_CERTS loads
 * (the Lambda runtime's bundle, or the one baked into the realtime image). With a proxy,
 * `host` is the proxy endpoint.
 */
export const databaseUrl = $interpolate`postgresql://${database.username}:${database.password.apply(encodeURIComponent)}@${database.host}:${database.port}/${database.database}?sslmode=verify-full`;
