/**
 * The web client's Content-Security-Policy, for every place that serves it: the local server
 * (server/web-client.ts) and CloudFront (infra/web-headers.ts). Plain data, no imports, so
 * the SST config can load it too. `storeOrigins`: where attachments are uploaded to and
 * loaded from.
 */
export function contentSecurityPolicy(storeOrigins: string[]): string {
  const store = storeOrigins.join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' ${store}`.trim(),
    // 'self' covers the Socket.IO websocket (ws/wss on this host) in CSP Level 3 browsers.
    `connect-src 'self' ${store}`.trim(),
    `media-src 'self' ${store}`.trim(),
    "font-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    // The client never uses HTML string sinks (innerHTML and friends); make that enforced.
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}
