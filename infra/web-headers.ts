import { contentSecurityPolicy } from '../web/content-security-policy.ts';

/*
 * The security headers of the web client's HTML on CloudFront, with the same policy the
 * local server sends; `npm run verify:deploy` checks that the S3 origin below is the one
 * the SDK signs URLs for. Plain data: no SST globals here.
 */

/** Where browsers upload to and download from for an AWS bucket (virtual-hosted style). */
export function s3Origins(bucket: string, region: string): string[] {
  return [`https://${bucket}.s3.${region}.amazonaws.com`];
}

/** Where browsers upload to and download from for a path-style endpoint such as R2. */
export function endpointOrigins(endpoint: string): string[] {
  return [new URL(endpoint).origin];
}

export function webSecurityHeaders(storeOrigins: string[]): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(storeOrigins),
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  };
}

/** A CloudFront Function (viewer response) snippet adding the headers to HTML responses. */
export function headersInjection(headers: Record<string, string>): string {
  const sets = Object.entries(headers)
    .map(([name, value]) => `h[${JSON.stringify(name)}] = { value: ${JSON.stringify(value)} };`)
    .join(' ');
  return `var h = event.response.headers; var ct = h['content-type']; if (ct && ct.value.indexOf('text/html') === 0) { ${sets} }`;
}
