/**
 * The security headers of the web client's HTML on CloudFront: the same as the local server
 * sends (server/web-client.ts); `npm run verify:deploy` checks the two agree and that the
 * S3 origin below is the one the SDK signs URLs for. Plain data: no SST globals here.
 */
export function webContentSecurityPolicy(storeOrigins: string[]): string {
  const store = storeOrigins.join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' ${store}`.trim(),
    `connect-src 'self' ${store}`.trim(),
    `media-src 'self' ${store}`.trim(),
    "font-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}

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
    'content-security-policy': webContentSecurityPolicy(storeOrigins),
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
