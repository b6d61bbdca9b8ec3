import { appEnvironment } from './environment';
import { nodejsInstall, restFunctions } from './lambdas';
import { schemaVersion } from './migrations';
import { vpc } from './network';
import { router } from './router';
import { lambdaRuntime, sizing } from './stage';
import { storageLinks } from './storage';

/**
 * Which REST concerns touch object storage (and so get its IAM permissions): Messages and
 * Search sign GET URLs of attachments, Uploads signs uploads and checks what arrived.
 */
const usesStorage = new Set<string>(['Messages', 'Search', 'Uploads']);

/** One Lambda per REST concern, each with a Function URL served under the router's origin. */
export const functions = restFunctions.map(
  (entry) =>
    new sst.aws.Function(entry.name, {
      handler: entry.handler,
      runtime: lambdaRuntime,
      architecture: 'x86_64',
      // argon2 hashing is CPU-bound, and Lambda CPU scales with memory.
      memory: '1024 MB',
      timeout: '20 seconds',
      vpc,
      // Links only for IAM permissions: the app reads its settings from the environment
      // (docs/decisions/0002-configuration-in-environment.md).
      link: usesStorage.has(entry.name) ? storageLinks : [],
      nodejs: { install: nodejsInstall },
      url: { router: { instance: router, path: entry.path }, cors: false },
      environment: appEnvironment({
        DATABASE_POOL_MAX: String(sizing.lambdaPoolMax),
        // No timers in Lambda: the realtime tasks sweep orphaned uploads.
        UPLOAD_SWEEP_INTERVAL_SECONDS: '0',
        // Node 20+ Lambda runtimes no longer trust the RDS CA unless told to.
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
        PARLEY_SCHEMA_VERSION: schemaVersion,
      }),
    }),
);
