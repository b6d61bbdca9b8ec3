/**
 * Per-stage sizing in one place. Numbers chosen so that, without RDS Proxy, every pool in the
 * worst case still fits the database's connection limit (see docs/deploy.md, "Connections").
 */
export const isProduction = $app.stage === 'production';

export const sizing = {
  /** db.t4g.micro: max_connections is about 81 at 1 GiB; db.t4g.small about 180. */
  databaseInstance: isProduction ? 't4g.small' : 't4g.micro',
  /** RDS Proxy multiplexes Lambda connections; it costs per vCPU-hour, so production only. */
  databaseProxy: isProduction,
  /** A Lambda instance serves one request at a time: 2 leaves room for a query beside a transaction. */
  lambdaPoolMax: 2,
  // No reserved concurrency on any stage: AWS refuses a reservation that leaves fewer than
  // 100 unreserved executions, and new accounts start with a limit of 10 in all
  // (docs/deploy.md, "Connections").
  realtimeTasks: { min: 2, max: isProduction ? 10 : 4 },
  realtimePoolMax: 5,
} as const;

/**
 * Lambda's Node 20 runtime is deprecated (April 2026) and new deploys of it get blocked;
 * Node 22 is the nearest supported LTS to the Node 20 that CI runs. The realtime image
 * uses the same major (realtime/Dockerfile).
 */
export const lambdaRuntime = 'nodejs22.x';
