import { appEnvironment } from './environment';
import { schemaVersion } from './migrations';
import { vpc } from './network';
import { router } from './router';
import { sizing } from './stage';
import { storageLinks } from './storage';

const PORT = 3000;

export const cluster = new sst.aws.Cluster('Cluster', { vpc });

/**
 * The Socket.IO tier: long-lived connections, so containers behind an ALB rather than
 * Lambda. At least two tasks; Redis carries broadcasts between them.
 */
export const realtime = new sst.aws.Service('Realtime', {
  cluster,
  image: { context: '.', dockerfile: 'realtime/Dockerfile' },
  cpu: '0.25 vCPU',
  memory: '0.5 GB',
  // Links only for IAM permissions (docs/decisions/0002-configuration-in-environment.md).
  link: storageLinks,
  // `sst deploy` waits for the service to be stable: a task that crash-loops or never
  // passes its health check fails the deploy instead of reporting success.
  wait: true,
  environment: appEnvironment({
    PORT: String(PORT),
    HOST: '0.0.0.0',
    DATABASE_POOL_MAX: String(sizing.realtimePoolMax),
    // Below ECS's 30 s stop timeout, so the graceful shutdown finishes before SIGKILL.
    SHUTDOWN_TIMEOUT_MS: '20000',
    PARLEY_SCHEMA_VERSION: schemaVersion,
  }),
  loadBalancer: {
    ports: [{ listen: '80/http', forward: `${PORT}/http` }],
    health: {
      [`${PORT}/http`]: {
        path: '/healthz',
        interval: '10 seconds',
        timeout: '5 seconds',
        healthyThreshold: 2,
      },
    },
  },
  scaling: {
    min: sizing.realtimeTasks.min,
    max: sizing.realtimeTasks.max,
    cpuUtilization: 60,
    memoryUtilization: 75,
  },
  transform: {
    target: {
      // Long-polling needs every request of a session on one task; websockets do not care.
      stickiness: { enabled: true, type: 'lb_cookie', cookieDuration: 86_400 },
      deregistrationDelay: 25,
    },
  },
  dev: {
    // `sst dev` runs the realtime tier locally with the linked resources' environment.
    command: 'npx tsx watch realtime/main.ts',
  },
});

/**
 * CloudFront's read timeout bounds how long an origin may stay silent. A long-polling GET
 * is held open until the server has something to send, at the latest its next ping
 * (pingInterval 20 s, realtime/app.ts), and the client waits pingTimeout (20 s) more
 * before giving up: the route's 20 s default would cut polls with 504s. 60 s is
 * CloudFront's maximum without a quota increase.
 */
export const realtimeRouteTimeouts = { readTimeout: '60 seconds', keepAliveTimeout: '60 seconds' } as const;

router.route('/socket.io', realtime.url, realtimeRouteTimeouts);
