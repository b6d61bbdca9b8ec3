import { type Program, type RegisteredResource, unsecret } from './program.ts';

/**
 * What the evaluated program must register, per stage. Each check returns the problems it
 * found; an empty list passes. Numbers that come from infra/stage.ts are restated here on
 * purpose: a change to them should be a deliberate change to this file too.
 */

const REST = [
  { entry: 'Auth', path: '/api/auth', storage: false },
  { entry: 'Rooms', path: '/api/rooms', storage: false },
  { entry: 'Messages', path: '/api/messages', storage: true },
  { entry: 'Search', path: '/api/search', storage: true },
  { entry: 'Uploads', path: '/api/upload', storage: true },
  { entry: 'Docs', path: '/api/openapi.json', storage: false },
] as const;

type Check = (p: Program) => string[];

const dependsOn = (r: RegisteredResource, type: string, name: string) =>
  r.dependsOn.some((urn) => urn.endsWith(`${type}::${name}`));

const programRuns: Check = (p) =>
  p.evaluation.failure ? [`the program throws: ${p.evaluation.failure}`] : [];

const restFunctions: Check = (p) => {
  const problems: string[] = [];
  const origin = p.evaluation.outputs.url;
  const invocation = p.find('aws:lambda/invocation:Invocation', 'MigrateOnDeploy');
  for (const { entry, storage } of REST) {
    const fn = p.find('aws:lambda/function:Function', `${entry}Function`);
    if (!fn) {
      problems.push(`no Lambda for ${entry}`);
      continue;
    }
    const env = p.lambdaEnvironment(`${entry}Function`);
    const expect = (key: string, ok: (v: string | undefined) => boolean, what: string) => {
      if (!ok(env[key])) problems.push(`${entry}: ${key}=${env[key] ?? '(unset)'}, expected ${what}`);
    };
    expect('NODE_ENV', (v) => v === 'production', 'production');
    expect(
      'DATABASE_URL',
      (v) => /^postgresql:\/\/.+\?sslmode=verify-full$/.test(v ?? ''),
      'a verify-full postgresql:// URL',
    );
    expect('REDIS_URL', (v) => (v ?? '').startsWith('rediss://'), 'a rediss:// URL');
    expect('JWT_SECRET', (v) => (v ?? '').length >= 32, 'the JwtSecret');
    expect('CORS_ORIGINS', (v) => v === origin, `the public origin ${String(origin)}`);
    expect('COOKIE_SECURE', (v) => v === 'true', 'true');
    expect('CLIENT_ADDRESS_HEADER', (v) => v === 'cloudfront-viewer-address', 'cloudfront-viewer-address');
    expect(
      'TRUST_PROXY_HOPS',
      (v) => v === undefined,
      'unset (a Function URL keeps only the leftmost X-Forwarded-For entry)',
    );
    expect('DATABASE_POOL_MAX', (v) => v === '2', '2');
    expect('MIGRATE_ON_START', (v) => v === 'false', 'false');
    expect('UPLOAD_SWEEP_INTERVAL_SECONDS', (v) => v === '0', '0');
    expect('NODE_EXTRA_CA_CERTS', (v) => v === '/var/runtime/ca-cert.pem', 'the runtime CA bundle');
    expect('PARLEY_SCHEMA_VERSION', (v) => Boolean(v), 'the Migrate result');
    if (fn.inputs.runtime !== 'nodejs22.x') problems.push(`${entry}: runtime ${String(fn.inputs.runtime)}`);
    const reserved = fn.inputs.reservedConcurrentExecutions;
    if (reserved !== undefined && reserved !== -1)
      problems.push(
        `${entry}: reserved concurrency ${String(reserved)} (AWS keeps 100 unreserved; new accounts have 10 in all)`,
      );
    if (invocation && !dependsOn(fn, 'aws:lambda/invocation:Invocation', 'MigrateOnDeploy'))
      problems.push(`${entry}: does not depend on the MigrateOnDeploy invocation`);
    const url = p.find('aws:lambda/functionUrl:FunctionUrl', `${entry}Url`);
    if (url?.inputs.authorizationType !== 'AWS_IAM')
      problems.push(`${entry}: Function URL not IAM-protected (OAC)`);
    const grantsBucket = rolePolicy(p, `${entry}Role`).some(
      (s) =>
        s.actions?.some((a) => a.startsWith('s3:')) && s.resources?.some((r) => r.includes('UploadsBucket')),
    );
    if (grantsBucket !== storage)
      problems.push(`${entry}: ${storage ? 'lacks' : 'has'} permissions on the uploads bucket`);
  }
  return problems;
};

function rolePolicy(p: Program, roleName: string): { actions?: string[]; resources?: string[] }[] {
  const role = p.find('aws:iam/role:Role', roleName);
  const inline = (role?.inputs.inlinePolicies as { policy?: string }[] | undefined) ?? [];
  return inline.flatMap((i) =>
    i.policy
      ? (JSON.parse(i.policy) as { Statement: { actions?: string[]; resources?: string[] }[] }).Statement
      : [],
  );
}

const migration: Check = (p) => {
  const problems: string[] = [];
  const fn = p.find('aws:lambda/function:Function', 'MigrateFunction');
  const invocation = p.find('aws:lambda/invocation:Invocation', 'MigrateOnDeploy');
  if (!fn || !invocation) return ['no Migrate function or no MigrateOnDeploy invocation'];
  if (invocation.inputs.functionName !== fn.inputs.name)
    problems.push('MigrateOnDeploy does not invoke the Migrate function');
  const env = p.lambdaEnvironment('MigrateFunction');
  if (!env.DATABASE_URL?.endsWith('sslmode=verify-full'))
    problems.push('Migrate: DATABASE_URL without sslmode=verify-full');
  if ('JWT_SECRET' in env || 'METRICS_TOKEN' in env)
    problems.push('Migrate: carries secrets it does not use');
  const task = p.find('aws:ecs/taskDefinition:TaskDefinition', 'RealtimeTask');
  if (task && !dependsOn(task, 'aws:lambda/invocation:Invocation', 'MigrateOnDeploy'))
    problems.push('the realtime task definition does not wait for MigrateOnDeploy');
  if (
    p.find('aws:rds/proxy:Proxy', 'DatabaseProxy') &&
    !dependsOn(invocation, 'aws:rds/proxyTarget:ProxyTarget', 'DatabaseProxyTarget')
  )
    problems.push('MigrateOnDeploy does not wait for the RDS Proxy target registration');
  return problems;
};

const router: Check = (p) => {
  const problems: string[] = [];
  const entries = p
    .all('pulumi-nodejs:dynamic:Resource')
    .filter((r) => r.name.endsWith('RoutesUpdate.sst.aws.KvRoutesUpdate'))
    .map((r) => String(r.inputs.entry));
  for (const { entry, path } of REST) {
    if (!entries.some((e) => e.startsWith('url,') && e.endsWith(`,${path}`)))
      problems.push(`no router route for ${path}`);
    const meta = p.routeMetadata(`${entry}RouteKey.sst.aws.KvKeys`) as {
      origin?: { originAccessControlConfig?: { enabled: boolean; originType: string } };
    };
    if (
      !meta.origin?.originAccessControlConfig?.enabled ||
      meta.origin.originAccessControlConfig.originType !== 'lambda'
    )
      problems.push(`${path}: not signed with OAC`);
  }
  if (!entries.some((e) => e.startsWith('url,') && e.endsWith(',/socket.io')))
    problems.push('no router route for /socket.io');
  if (!entries.some((e) => e.startsWith('site,'))) problems.push('no router route for the web client');
  const socket = p.routeMetadata('RouterRoute/socket.ioRouteKey.sst.aws.KvKeys') as {
    host?: string;
    origin?: { timeouts?: { readTimeout?: number } };
  };
  const read = socket.origin?.timeouts?.readTimeout;
  if (read === undefined)
    problems.push(
      '/socket.io: no explicit read timeout (CloudFront default 20 s = pingInterval: long-polls get 504s)',
    );
  else if (read < 40 || read > 60)
    problems.push(
      `/socket.io: read timeout ${read} s, expected 40–60 s (pingInterval + pingTimeout, CloudFront's maximum)`,
    );
  if (socket.host !== 'realtimeloadbalancer.elb.mock.internal')
    problems.push(`/socket.io routes to ${String(socket.host)}, not the realtime load balancer`);
  const distribution = p.find('aws:cloudfront/distribution:Distribution', 'RouterCdnDistribution');
  const behavior = distribution?.inputs.defaultCacheBehavior as
    | {
        functionAssociations?: { eventType: string; functionArn: string }[];
        lambdaFunctionAssociations?: { eventType: string; includeBody?: boolean; lambdaArn?: string }[];
        originRequestPolicyId?: string;
      }
    | undefined;
  if (
    !behavior?.functionAssociations?.some(
      (f) => f.eventType === 'viewer-response' && f.functionArn.endsWith(':RouterCloudfrontFunctionResponse'),
    )
  )
    problems.push('the distribution does not run the viewer-response function');
  if (
    !behavior?.lambdaFunctionAssociations?.some(
      (f) => f.eventType === 'origin-request' && f.includeBody && f.lambdaArn,
    )
  )
    problems.push('no origin-request Lambda@Edge hashing bodies for OAC');
  // Managed-AllViewerExceptHostHeader: every viewer header (X-Parley-Authorization, cookies)
  // and CloudFront-Viewer-Address reach the origins.
  if (behavior?.originRequestPolicyId !== 'b689b0a8-53d0-40ab-baf2-68738e2966ac')
    problems.push(
      `origin request policy ${String(behavior?.originRequestPolicyId)}: viewer headers may not reach the functions`,
    );
  const response = p.find('aws:cloudfront/function:Function', 'RouterCloudfrontFunctionResponse');
  const bucket = p.lambdaEnvironment('UploadsFunction').S3_BUCKET;
  if (!response) problems.push('the router has no viewer-response function: the web client gets no CSP');
  else if (!String(response.inputs.code).includes(`https://${bucket}.s3.`))
    problems.push("the router's CSP does not name the uploads bucket");
  return problems;
};

const realtime: Check = (p) => {
  const problems: string[] = [];
  const service = p.find('aws:ecs/service:Service', 'RealtimeService');
  if (!service) return ['no realtime ECS service'];
  if (service.inputs.waitForSteadyState !== true)
    problems.push(
      'the service does not wait for a steady state (a crash-looping image would report success)',
    );
  if (unsecret(service.inputs.desiredCount) !== 2)
    problems.push(`desired count ${String(unsecret(service.inputs.desiredCount))}, expected 2`);
  const scaling = p.find('aws:appautoscaling/target:Target', 'RealtimeAutoScalingTarget');
  const max = p.stage === 'production' ? 10 : 4;
  if (unsecret(scaling?.inputs.minCapacity) !== 2 || unsecret(scaling?.inputs.maxCapacity) !== max)
    problems.push(
      `autoscaling ${String(unsecret(scaling?.inputs.minCapacity))}–${String(unsecret(scaling?.inputs.maxCapacity))}, expected 2–${max}`,
    );
  const tg = p.find('aws:lb/targetGroup:TargetGroup', 'RealtimeTargetRealtimeHTTP3000');
  const health = tg?.inputs.healthCheck as { path?: string; interval?: number } | undefined;
  if (health?.path !== '/healthz') problems.push(`health check path ${String(health?.path)}`);
  if (tg?.inputs.port !== 3000 || tg.inputs.protocol !== 'HTTP')
    problems.push('the target group does not forward HTTP to port 3000');
  const sticky = tg?.inputs.stickiness as { enabled?: boolean; type?: string } | undefined;
  if (!sticky?.enabled || sticky.type !== 'lb_cookie')
    problems.push('no cookie stickiness (polling sessions would hit other tasks)');
  const listener = p.find('aws:lb/listener:Listener', 'RealtimeListenerHTTP80');
  if (listener?.inputs.port !== 80 || listener.inputs.protocol !== 'HTTP')
    problems.push('no HTTP listener on port 80');
  const env = Object.fromEntries(p.container('RealtimeTask').environment.map((e) => [e.name, e.value]));
  if (env.PORT !== '3000')
    problems.push(`the container listens on ${env.PORT}, the target group forwards to 3000`);
  if (env.SHUTDOWN_TIMEOUT_MS !== '20000')
    problems.push('SHUTDOWN_TIMEOUT_MS is not below the 30 s ECS stop timeout');
  if (!env.JWT_SECRET || env.CORS_ORIGINS !== p.evaluation.outputs.url)
    problems.push('the container lacks JWT_SECRET or the public origin');
  return problems;
};

const storage: Check = (p) => {
  const problems: string[] = [];
  const cors = p.find('aws:s3/bucketCorsConfiguration:BucketCorsConfiguration', 'UploadsCors');
  const rule = (
    cors?.inputs.corsRules as { allowedOrigins: string[]; allowedMethods: string[] }[] | undefined
  )?.[0];
  if (!rule) problems.push('the uploads bucket has no CORS rule');
  else {
    if (JSON.stringify(rule.allowedOrigins) !== JSON.stringify([p.evaluation.outputs.url]))
      problems.push(`bucket CORS allows ${rule.allowedOrigins.join(', ')}, expected only the public origin`);
    for (const m of ['POST', 'GET', 'PUT'])
      if (!rule.allowedMethods.includes(m)) problems.push(`bucket CORS lacks ${m}`);
  }
  const lifecycle = p.find(
    'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration',
    'UploadsLifecycle',
  );
  const rules =
    (lifecycle?.inputs.rules as
      { abortIncompleteMultipartUpload?: { daysAfterInitiation: number } }[] | undefined) ?? [];
  if (!rules.some((r) => r.abortIncompleteMultipartUpload?.daysAfterInitiation === 1))
    problems.push('no lifecycle rule aborting multipart uploads after 1 day');
  const endpoint = p.find('aws:ec2/vpcEndpoint:VpcEndpoint', 'VpcS3Endpoint');
  const tables = p
    .all('aws:ec2/routeTable:RouteTable')
    .filter((t) => t.name.startsWith('VpcPrivateRouteTable'))
    .map((t) => `${t.name}-id`);
  if (
    !endpoint ||
    endpoint.inputs.vpcEndpointType !== 'Gateway' ||
    !String(endpoint.inputs.serviceName).endsWith('.s3')
  )
    problems.push('no S3 gateway endpoint (S3 traffic would pay the NAT)');
  else if (
    JSON.stringify([...(endpoint.inputs.routeTableIds as string[])].sort()) !== JSON.stringify(tables.sort())
  )
    problems.push(
      `the S3 endpoint serves ${JSON.stringify(endpoint.inputs.routeTableIds)}, not the private route tables ${JSON.stringify(tables)}`,
    );
  return problems;
};

const database: Check = (p) => {
  const problems: string[] = [];
  const params =
    (p.find('aws:rds/parameterGroup:ParameterGroup', 'DatabaseParameterGroup')?.inputs.parameters as
      { name: string; value: string }[] | undefined) ?? [];
  if (params.find((x) => x.name === 'rds.force_ssl')?.value !== '1')
    problems.push('rds.force_ssl is not 1: the server accepts plain connections');
  const instance = p.find('aws:rds/instance:Instance', 'DatabaseInstance');
  const production = p.stage === 'production';
  if (instance?.inputs.instanceClass !== (production ? 'db.t4g.small' : 'db.t4g.micro'))
    problems.push(`instance class ${String(instance?.inputs.instanceClass)}`);
  if (Boolean(p.find('aws:rds/proxy:Proxy', 'DatabaseProxy')) !== production)
    problems.push(`RDS Proxy ${production ? 'missing on' : 'present on'} ${p.stage}`);
  if (p.evaluation.app.protect !== production || (p.evaluation.app.removal === 'retain') !== production)
    problems.push('protect/removal do not match the stage');
  return problems;
};

const programChecks: Record<string, Check> = {
  programRuns,
  restFunctions,
  migration,
  router,
  realtime,
  storage,
  database,
};

/** Every problem of one stage, labelled by check. */
export function programProblems(p: Program): string[] {
  if (p.evaluation.failure) return programRuns(p);
  return Object.entries(programChecks).flatMap(([name, check]) => {
    try {
      return check(p).map((m) => `${name}: ${m}`);
    } catch (err) {
      return [`${name}: ${(err as Error).message}`];
    }
  });
}
