import { storeOrigins } from './storage';
import { headersInjection, webSecurityHeaders } from './web-headers';

/**
 * One CloudFront origin for browsers: /api/* (functions), /socket.io/* (realtime service)
 * and the web client. Same origin means the `sid` cookie is first-party and no cross-site
 * CORS is needed. PARLEY_DOMAIN (e.g. chat.example.com, DNS in Route 53) adds a custom domain.
 */
const domain = process.env.PARLEY_DOMAIN;

export const router = new sst.aws.Router('Router', {
  ...(domain ? { domain: { name: domain } } : {}),
  // Function URLs accept only this distribution (IAM + OAC), so nobody can skip CloudFront.
  // OAC signs each request with its own `Authorization` header, replacing the viewer's:
  // native clients send their token as `X-Parley-Authorization` (core/http/session.ts).
  // Edge signing hashes request bodies for OAC; our JSON bodies are far below its 1 MB cap
  // (files go straight to the bucket).
  protection: 'oac-with-edge-signing',
  // The web client's CSP and framing headers, the same as the local server sends with
  // index.html. A site served through a Router cannot have its own `edge` functions, so the
  // router's viewer-response function adds them, to HTML responses only.
  edge: {
    viewerResponse: {
      injection: storeOrigins.apply((origins) => headersInjection(webSecurityHeaders(origins))),
    },
  },
});

/** The public origin: what CORS_ORIGINS allows and what cookies and links are scoped to. */
export const publicOrigin = domain ? `https://${domain}` : router.url;
