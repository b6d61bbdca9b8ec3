import { router } from './router';

/**
 * The browser client, built by web/build.ts, served at / on the router's origin. Its
 * security headers come from the router's viewer-response function (infra/router.ts).
 */
export const web = new sst.aws.StaticSite('Web', {
  path: '.',
  build: { command: 'npm run build:web', output: 'web/dist' },
  router: { instance: router },
  // Deployed in `sst dev` too: its pages talk to the deployed API, like production.
  dev: false,
});
