// SST's globals ($config, sst, aws) come from the platform that `sst install` writes.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Parley on AWS: REST concerns as Lambda functions, the Socket.IO tier as a Fargate service,
 * Postgres, Valkey and S3, all behind one CloudFront origin. One file per concern in infra/.
 * See docs/deploy.md.
 */
export default $config({
  app(input) {
    return {
      name: 'parley',
      removal: input?.stage === 'production' ? 'retain' : 'remove',
      protect: input?.stage === 'production',
      home: 'aws',
    };
  },
  async run() {
    const { router, publicOrigin } = await import('./infra/router');
    await import('./infra/secrets');
    await import('./infra/storage-cors');
    await import('./infra/storage-sweep');
    const { functions } = await import('./infra/functions');
    const { realtime } = await import('./infra/realtime');
    await import('./infra/web');

    return {
      url: publicOrigin,
      router: router.url,
      realtime: realtime.url,
      functions: functions.map((f) => f.url),
    };
  },
});
