import { router } from './router';

/** The browser client, built by web/build.ts, served at / on the router's origin. */
export const web = new sst.aws.StaticSite('Web', {
  path: '.',
  build: { command: 'npm run build:web', output: 'web/dist' },
  router: { instance: router },
});
