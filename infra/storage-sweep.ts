import { appEnvironment } from './environment';
import { nodejsInstall, sweepUploadsFunction } from './lambdas';
import { schemaVersion } from './migrations';
import { vpc } from './network';
import { storageLinks } from './storage';
import { lambdaRuntime } from './stage';

/** Abandoned uploads (rows and objects) are deleted every hour by a scheduled function. */
export const uploadSweep = new sst.aws.Cron('SweepUploadsSchedule', {
  schedule: 'rate(1 hour)',
  function: {
    handler: sweepUploadsFunction.handler,
    runtime: lambdaRuntime,
    timeout: '5 minutes',
    memory: '512 MB',
    vpc,
    link: storageLinks,
    // Same bundling as every function (scripts/build-functions.ts verifies exactly this).
    nodejs: { install: nodejsInstall },
    environment: appEnvironment({
      DATABASE_POOL_MAX: '1',
      UPLOAD_SWEEP_INTERVAL_SECONDS: '0',
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
      PARLEY_SCHEMA_VERSION: schemaVersion,
    }),
  },
});
