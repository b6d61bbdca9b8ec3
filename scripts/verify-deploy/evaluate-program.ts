/**
 * Evaluates sst.config.ts `run()` offline for one stage: the installed SST platform's real
 * component classes run under Pulumi's runtime mocks (`pulumi.runtime.setMocks`), so every
 * constructor and its argument checks execute, with no AWS account, no Pulumi CLI and no
 * plugins. Writes every registered resource (type, name, inputs, dependencies) as JSON.
 *
 * The mock cloud "provisions" the database and Redis as the servers the verification
 * started (MockCloud), so the environment the program composes points at them unchanged.
 * One stage per process: the platform, the infra modules and the mocks are process-global.
 *
 *   tsx scripts/verify-deploy/evaluate-program.ts <stage> <out.json>   (MockCloud in VERIFY_MOCK_CLOUD)
 */
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Evaluation, MockCloud, RegisteredResource } from './program.ts';

const [stage, outFile] = process.argv.slice(2);
if (!stage || !outFile) throw new Error('usage: evaluate-program.ts <stage> <out.json>');
const cloud = JSON.parse(process.env.VERIFY_MOCK_CLOUD ?? '{}') as MockCloud;
const root = process.cwd();
const platform = path.join(root, '.sst/platform');
const requireFromPlatform = createRequire(path.join(platform, 'package.json'));
const load = (spec: string) => import(pathToFileURL(requireFromPlatform.resolve(spec)).href);
const pulumi = await load('@pulumi/pulumi');
const mocks = await load('@pulumi/pulumi/runtime/mocks.js');

const region = cloud.region;
const account = '123456789012';
const resources: RegisteredResource[] = [];
const SLOW_CREATE_MS = 1500;

// The mocks interface does not see dependencies: record them from each registration request.
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(fn: (v: { getUrnsList(): string[] }) => void): void };
}
const deps = new Map<string, { dependsOn: string[]; parent: string }>();
const register = mocks.MockMonitor.prototype.registerResource as (
  req: RegisterRequest,
  cb: unknown,
) => unknown;
mocks.MockMonitor.prototype.registerResource = function (req: RegisterRequest, cb: unknown) {
  const fromProperties: string[] = [];
  req.getPropertydependenciesMap().forEach((v) => fromProperties.push(...v.getUrnsList()));
  deps.set(`${req.getType()}::${req.getName()}`, {
    dependsOn: [...new Set([...req.getDependenciesList(), ...fromProperties])],
    parent: req.getParent(),
  });
  return register.call(this, req, cb);
};

/** Outputs of the resources the app reaches at run time: the servers the verification runs. */
function cloudState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case 'aws:rds/instance:Instance':
      return {
        endpoint: `${cloud.postgres.host}:${cloud.postgres.port}`,
        address: cloud.postgres.host,
        port: cloud.postgres.port,
      };
    case 'aws:rds/proxy:Proxy':
      return { endpoint: cloud.postgres.host };
    case 'aws:elasticache/replicationGroup:ReplicationGroup':
      return { primaryEndpointAddress: cloud.redis.host, port: cloud.redis.port, clusterEnabled: false };
    case 'random:index/randomBytes:RandomBytes':
      // SST's key for the functions' encrypted resource file (SST_KEY).
      return { base64: Buffer.from(`${name}-mock-bytes-0123456789abcdef`).toString('base64') };
    case 'random:index/randomPassword:RandomPassword':
      // Redis auth tokens take specials (the URL must encode them); database passwords do not.
      return { result: inputs.special ? cloud.redis.password : cloud.postgres.password };
    case 'aws:s3/bucket:Bucket': {
      const bucket = name === 'UploadsBucket' ? cloud.bucket : `${name.toLowerCase()}-mock`;
      return { bucket, bucketDomainName: `${bucket}.s3.amazonaws.com` };
    }
    default:
      return { name: (inputs.name as string | undefined) ?? name };
  }
}

pulumi.runtime.setMocks(
  {
    async newResource(a: { type: string; name: string; inputs: Record<string, unknown>; custom: boolean }) {
      resources.push({
        type: a.type,
        name: a.name,
        custom: a.custom,
        inputs: a.inputs,
        dependsOn: [],
        parent: '',
      });
      // The engine answers a registration once the resource exists. Registering a database
      // behind RDS Proxy takes minutes on AWS: answering late here lets a resource that does
      // not really wait for it (an implicit, timing-dependent dependency) register first.
      if (a.type === 'aws:rds/proxyTarget:ProxyTarget')
        await new Promise((r) => setTimeout(r, SLOW_CREATE_MS));
      const n = a.name;
      return {
        id: `${n}-id`,
        state: {
          dnsName: `${n.toLowerCase()}.elb.mock.internal`,
          functionUrl: `https://${n.toLowerCase()}.lambda-url.${region}.on.aws/`,
          repositoryUrl: `${account}.dkr.ecr.${region}.amazonaws.com/mock`,
          ref: 'mock@sha256:00',
          digest: 'sha256:00',
          domainName: `${n.toLowerCase()}.cloudfront.net`,
          // The Migrate function answers its invocation as the real one would.
          ...(a.type === 'aws:lambda/invocation:Invocation'
            ? { result: JSON.stringify({ applied: [], latest: cloud.schemaVersion }) }
            : {}),
          ...a.inputs,
          ...cloudState(a.type, n, a.inputs),
          arn: `arn:aws:mock:${region}:${account}:${n}`,
          qualifiedArn: `arn:aws:mock:${region}:${account}:${n}:1`,
        },
      };
    },
    call(a: { token: string; inputs: Record<string, unknown> }) {
      switch (a.token) {
        case 'aws:index/getRegion:getRegion':
          return { name: region, region, id: region };
        case 'aws:index/getCallerIdentity:getCallerIdentity':
          return { accountId: account, arn: `arn:aws:iam::${account}:user/mock`, userId: 'mock' };
        case 'aws:index/getPartition:getPartition':
          return { partition: 'aws', dnsSuffix: 'amazonaws.com', id: 'aws' };
        case 'aws:iam/getPolicyDocument:getPolicyDocument':
          // What links grant: the policy's statements, readable in the evaluation.
          return {
            ...a.inputs,
            json: JSON.stringify({ Version: '2012-10-17', Statement: a.inputs.statements ?? [] }),
            id: 'mock',
          };
        case 'aws:index/getAvailabilityZones:getAvailabilityZones':
          return { names: [`${region}a`, `${region}b`], zoneIds: ['az1', 'az2'], id: region };
        default:
          return { ...a.inputs, id: 'mock' };
      }
    },
  },
  'parley',
  stage,
  // Not a preview: outputs are known, so the components' `apply` callbacks run and
  // register what they create (as they do in a deploy).
  false,
);

// The SST CLI answers the platform over a local RPC server; this stub answers instead.
const rpc = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    const { method } = JSON.parse(body) as { method: string };
    let result: unknown = null;
    if (method === 'Provider.Aws.Bootstrap') {
      result = {
        asset: 'mock-asset-bucket',
        assetEcrRegistryId: account,
        assetEcrUrl: `${account}.dkr.ecr.${region}.amazonaws.com/sst-asset`,
        state: 'mock-state-bucket',
      };
    } else if (method === 'Runtime.Build') {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-eval-build-'));
      buildDirs.push(out);
      fs.writeFileSync(path.join(out, 'index.mjs'), 'export const handler = async () => ({})');
      result = { handler: 'index.handler', out, errors: [], sourcemaps: [] };
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 1, result, error: null }));
  });
});
const buildDirs: string[] = [];
await new Promise<void>((r) => rpc.listen(0, '127.0.0.1', () => r()));
process.env.SST_SERVER = `http://127.0.0.1:${(rpc.address() as { port: number }).port}`;

const g = globalThis as Record<string, unknown>;
g.$config = (c: unknown) => c;
const sstConfig = (await import(pathToFileURL(path.join(root, 'sst.config.ts')).href)).default as {
  app(input: { stage: string }): { name: string; removal: string; protect: boolean };
  run(): Promise<Record<string, unknown>>;
};
const app = sstConfig.app({ stage });
g.$app = { ...app, name: 'parley', stage, providers: { aws: { region } } };
g.$dev = false;
g.$cli = {
  command: 'deploy',
  paths: { root, work: path.join(root, '.sst'), platform, home: os.tmpdir() },
  state: { version: {} },
  env: {},
};
Object.assign(g, {
  $output: pulumi.output,
  $apply: pulumi.output,
  $resolve: pulumi.all,
  $interpolate: pulumi.interpolate,
  $concat: pulumi.concat,
  $jsonParse: pulumi.jsonParse,
  $jsonStringify: pulumi.jsonStringify,
  $util: pulumi,
});
const fromSrc = (p: string) => import(pathToFileURL(path.join(platform, 'src', p)).href);
const component = await fromSrc('components/component.ts');
const config = await fromSrc('config.ts');
const link = await fromSrc('components/link.ts');
Object.assign(g, {
  $transform: component.$transform,
  $asset: component.$asset,
  $config: config.$config,
  $linkable: link.Link.makeLinkable,
});
g.sst = await fromSrc('components/index.ts');
g.aws = await load('@pulumi/aws');

let failure: string | undefined;
const fail = (err: unknown) => {
  failure ??= err instanceof Error ? err.message : String(err);
  if (process.env.VERIFY_DEBUG) process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
};
process.on('unhandledRejection', fail);
let outputs: Record<string, unknown> = {};
try {
  // Inside a root stack, as `sst deploy` runs it: stack transformations need one.
  const stack = await load('@pulumi/pulumi/runtime/stack.js');
  await stack.runInPulumiStack(async () => {
    const returned = await sstConfig.run();
    pulumi.output(returned).apply((v: Record<string, unknown>) => (outputs = v));
    return returned;
  });
  // Outputs resolve asynchronously; give the mock engine time to register what they create.
  await new Promise((r) => setTimeout(r, 2000 + SLOW_CREATE_MS));
} catch (err) {
  fail(err);
}
rpc.close();
for (const d of buildDirs) fs.rmSync(d, { recursive: true, force: true });
for (const r of resources) Object.assign(r, deps.get(`${r.type}::${r.name}`) ?? {});
const evaluation: Evaluation = { stage, app, resources, outputs, failure };
fs.writeFileSync(outFile, JSON.stringify(evaluation));
process.exit(0);
