import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './steps.ts';

/** Where the mock cloud says the database, Redis and bucket are: the verification's own servers. */
export interface MockCloud {
  region: string;
  postgres: { host: string; port: number; password: string };
  redis: { host: string; port: number; password: string };
  bucket: string;
  /** What the mocked Migrate invocation answers (the real one is run by the verification). */
  schemaVersion: string;
}

export interface RegisteredResource {
  type: string;
  name: string;
  custom: boolean;
  inputs: Record<string, unknown>;
  /** URNs this resource depends on (explicit dependsOn and through its inputs). */
  dependsOn: string[];
  parent: string;
}

export interface Evaluation {
  stage: string;
  app: { name: string; removal: string; protect: boolean };
  resources: RegisteredResource[];
  outputs: Record<string, unknown>;
  /** What a real deploy would stop on, if anything. */
  failure: string | undefined;
}

/** Runs sst.config.ts for one stage in its own process (the platform and mocks are global). */
export function evaluateProgram(stage: string, cloud: MockCloud, outFile: string): Promise<Evaluation> {
  rmSync(outFile, { force: true });
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'scripts/verify-deploy/evaluate-program.ts'), stage, outFile],
      {
        cwd: root,
        // Only the variables the program reads at deploy time (PARLEY_DOMAIN, PARLEY_STORAGE) come from the caller.
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          TMPDIR: process.env.TMPDIR ?? '/tmp',
          AWS_REGION: cloud.region,
          SST_SECRET_JwtSecret: 'evaluation-only-jwt-secret-0123456789abcdef',
          SST_SECRET_MetricsToken: 'evaluation-only-metrics-token',
          VERIFY_MOCK_CLOUD: JSON.stringify(cloud),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    // Pulumi sets a failing exit code for promises a failed program leaves behind: the file
    // (written last) is what tells a completed evaluation.
    child.on('close', (code) => {
      if (!existsSync(outFile))
        return reject(new Error(`evaluating stage ${stage} exited ${code}:\n${out.slice(-3000)}`));
      resolve(JSON.parse(readFileSync(outFile, 'utf8')) as Evaluation);
    });
  });
}

/** Lookups over one evaluation's resources. */
export class Program {
  constructor(readonly evaluation: Evaluation) {}

  get stage(): string {
    return this.evaluation.stage;
  }

  all(type: string): RegisteredResource[] {
    return this.evaluation.resources.filter((r) => r.type === type);
  }

  find(type: string, name: string): RegisteredResource | undefined {
    return this.evaluation.resources.find((r) => r.type === type && r.name === name);
  }

  get(type: string, name: string): RegisteredResource {
    const r = this.find(type, name);
    if (!r) {
      const names = this.all(type).map((x) => x.name);
      throw new Error(`stage ${this.stage}: no ${type} named ${name} (have: ${names.join(', ') || 'none'})`);
    }
    return r;
  }

  /** The URN the mock engine gave a resource (what dependsOn lists hold). */
  urnOf(r: RegisteredResource): string {
    const parentType = r.parent ? r.parent.split('::')[2]!.split('$').pop() : undefined;
    const type = parentType ? `${parentType}$${r.type}` : r.type;
    return `urn:pulumi:${this.stage}::parley::${type}::${r.name}`;
  }

  /** The Lambda environment a function gets from the program, exactly. */
  lambdaEnvironment(functionName: string): Record<string, string> {
    const fn = this.get('aws:lambda/function:Function', functionName);
    const env = (unsecret(fn.inputs.environment) as { variables?: Record<string, string> } | undefined)
      ?.variables;
    if (!env) throw new Error(`stage ${this.stage}: function ${functionName} has no environment`);
    return env;
  }

  /** The host of an SST function's Function URL (what the router's route points at). */
  functionUrlHost(entryName: string): string {
    const key = this.routeMetadata(`${entryName}RouteKey.sst.aws.KvKeys`);
    return key.host as string;
  }

  /** The origin settings the router keeps for a route, from its KV entry. */
  routeMetadata(resourceName: string): Record<string, unknown> {
    const r = this.get('pulumi-nodejs:dynamic:Resource', resourceName);
    const entries = r.inputs.entries as { metadata: string };
    return JSON.parse(entries.metadata) as Record<string, unknown>;
  }

  /** The realtime container's definition (the first container of the task). */
  container(taskName: string): { environment: { name: string; value: string }[]; portMappings: unknown[] } {
    const task = this.get('aws:ecs/taskDefinition:TaskDefinition', taskName);
    const defs = JSON.parse(unsecret(task.inputs.containerDefinitions) as string) as {
      environment: { name: string; value: string }[];
      portMappings: unknown[];
    }[];
    return defs[0]!;
  }
}

/** Pulumi marks secret inputs with this signature key; the value sits under `value`. */
const SECRET_SIG = '4dabf18193072939515e22adb298388d';

export function unsecret(v: unknown): unknown {
  if (v && typeof v === 'object' && SECRET_SIG in v) return (v as unknown as { value: unknown }).value;
  return v;
}
