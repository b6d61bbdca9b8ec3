import { createRoute } from '@hono/zod-openapi';
import { bodies, errors, json, jsonBody, sessionSecurity } from '../../core/http/openapi.ts';
import { Credentials, LoginBody } from '../../core/schemas.ts';

/** /api/auth, declared: paths, request and response schemas, error answers. */

const SET_COOKIE = {
  'Set-Cookie': {
    description: 'The session cookie `sid` (HttpOnly; SameSite=Lax; Path=/)',
    schema: { type: 'string' as const },
  },
};

export const register = createRoute({
  method: 'post',
  path: '/register',
  summary: 'Create an account and start a session (cookie)',
  tags: ['auth'],
  request: { body: jsonBody(Credentials) },
  responses: {
    201: { ...json(bodies.user, 'The new user; the session cookie is set'), headers: SET_COOKIE },
    ...errors('invalid_request', 'payload_too_large', 'username_taken', 'rate_limited'),
  },
});

export const login = createRoute({
  method: 'post',
  path: '/login',
  summary: 'Start a session (cookie)',
  tags: ['auth'],
  request: { body: jsonBody(LoginBody) },
  responses: {
    200: { ...json(bodies.user, 'The user; the session cookie is set'), headers: SET_COOKIE },
    ...errors('invalid_request', 'payload_too_large', 'invalid_credentials', 'rate_limited'),
  },
});

export const token = createRoute({
  method: 'post',
  path: '/token',
  summary: 'Start a session for a native client: the token in the body, no cookie',
  description:
    'The same login as `/login` (validation, answers, throttle); send the token as `Authorization: Bearer`.',
  tags: ['auth'],
  request: { body: jsonBody(LoginBody) },
  responses: {
    200: json(bodies.token, 'The user, the token and its expiry (epoch ms)'),
    ...errors('invalid_request', 'payload_too_large', 'invalid_credentials', 'rate_limited'),
  },
});

export const logout = createRoute({
  method: 'post',
  path: '/logout',
  summary: 'Revoke the session (cookie or Bearer) and clear the cookie',
  tags: ['auth'],
  responses: {
    204: { description: 'Done, also without a valid session' },
    ...errors(),
  },
});

export const me = createRoute({
  method: 'get',
  path: '/me',
  summary: 'The user of the session',
  tags: ['auth'],
  security: sessionSecurity,
  responses: {
    200: json(bodies.user, 'The user'),
    ...errors('unauthorized'),
  },
});
