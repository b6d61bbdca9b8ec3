import { router } from './router';
import { r2 } from './secrets';
import { bucket } from './storage';
import { endpointOrigins, headersInjection, s3Origins, webSecurityHeaders } from './web-headers';

/** Where the browser uploads to and loads attachments from: the only non-self CSP sources. */
const storeOrigins = r2
  ? r2.endpoint.value.apply(endpointOrigins)
  : $util
      .all([bucket!.name, aws.getRegionOutput().region])
      .apply(([name, region]) => s3Origins(name, region));

/** The browser client, built by web/build.ts, served at / on the router's origin. */
export const web = new sst.aws.StaticSite('Web', {
  path: '.',
  build: { command: 'npm run build:web', output: 'web/dist' },
  router: { instance: router },
  // The same CSP and framing headers as the local server sends with index.html.
  edge: {
    viewerResponse: {
      injection: storeOrigins.apply((origins) => headersInjection(webSecurityHeaders(origins))),
    },
  },
  // Deployed in `sst dev` too: its pages talk to the deployed API, like production.
  dev: false,
});
