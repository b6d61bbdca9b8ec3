/**
 * The Lambda entries and how they are bundled, as plain data: infra/functions.ts deploys them
 * and scripts/build-functions.ts bundles and invokes the very same list offline.
 */
export interface LambdaEntry {
  /** SST component name. */
  name: string;
  /** Source file and export, SST style: `path/to/file.export`. */
  handler: string;
  /** Public path prefix on the router; none for internal functions. */
  path?: string;
  /** Directories shipped beside the bundle. */
  copyFiles?: { from: string; to: string }[];
}

export const restFunctions = [
  { name: 'Auth', handler: 'functions/auth/lambda.handler', path: '/api/auth' },
  { name: 'Rooms', handler: 'functions/rooms/lambda.handler', path: '/api/rooms' },
  { name: 'Messages', handler: 'functions/messages/lambda.handler', path: '/api/messages' },
  { name: 'Search', handler: 'functions/search/lambda.handler', path: '/api/search' },
  { name: 'Uploads', handler: 'functions/uploads/lambda.handler', path: '/api/upload' },
  // The OpenAPI document, built from the route declarations: no database, Redis or storage.
  { name: 'Docs', handler: 'functions/docs/lambda.handler', path: '/api/openapi.json' },
] as const satisfies readonly LambdaEntry[];

/** Applies prisma/migrations once per deploy, before any new code serves. */
export const migrateFunction = {
  name: 'Migrate',
  handler: 'scripts/migrate.handler',
  copyFiles: [{ from: 'prisma/migrations', to: 'prisma/migrations' }],
} as const satisfies LambdaEntry;

/** Deletes abandoned uploads on a schedule. */
export const sweepUploadsFunction = {
  name: 'SweepUploads',
  handler: 'scripts/sweep-uploads.handler',
} as const satisfies LambdaEntry;

/**
 * Packages SST must install next to the bundle instead of bundling them (`nodejs.install`):
 * native addons, which esbuild cannot inline.
 */
export const nodejsInstall = ['@node-rs/argon2'];
