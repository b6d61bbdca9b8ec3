/**
 * One CloudFront origin for browsers: /api/* (functions), /socket.io/* (realtime service)
 * and the web client. Same origin means the `sid` cookie is first-party and no cross-site
 * CORS is needed. PARLEY_DOMAIN (e.g. chat.example.com, DNS in Route 53) adds a custom domain.
 */
const domain = process.env.PARLEY_DOMAIN;

export const router = new sst.aws.Router('Router', {
  ...(domain ? { domain: { name: domain } } : {}),
});

/** The public origin: what CORS_ORIGINS allows and what cookies and links are scoped to. */
export const publicOrigin = domain ? `https://${domain}` : router.url;
