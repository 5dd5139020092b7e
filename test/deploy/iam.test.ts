/**
 * The IAM policies of the deploy recipe (deploy/iam/*.json; the CloudFormation template holds the
 * same documents): each parses as a 2012-10-17 policy, grants no wildcard action, scopes every
 * resource to the run's bucket and prefix, this account, or the model (a `*` resource only for the
 * few actions that have no resource type, each named below with the reason), and conditions every
 * iam:PassRole on the service it is passed to. The step's role covers every S3, Bedrock and Service
 * Quotas call the library makes: a new SDK command in src/ fails this test until its action is here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { iamFiles, list, ROOT, type PolicyDocument, type PolicyStatement } from '../support/deploy.js';

const files = iamFiles();
const trusts = [...files].filter(([name]) => name.endsWith('-trust.json'));
const permissions = [...files].filter(([name]) => !name.endsWith('-trust.json'));
const doc = (name: string): PolicyDocument => {
  const d = files.get(name);
  if (!d) throw new Error(`deploy/iam/${name} is missing`);
  return d;
};

/** Actions with no resource type in the Service Authorization Reference: `Resource: "*"` is the only form. */
const STAR_RESOURCE_ONLY: Record<string, string> = {
  'bedrock:ListModelInvocationJobs': 'a List action: no resource type',
  'servicequotas:ListServiceQuotas': 'no resource type (reads the quotas of a service code)',
  'servicequotas:ListAWSDefaultServiceQuotas': 'no resource type',
  'ecr:GetAuthorizationToken': 'a registry-wide sign-in token: no resource type',
};

/** The SDK commands the library sends, and the IAM action each needs (S3's from the S3 User Guide's "Policy actions" table). */
const ACTION_OF: Record<string, string[]> = {
  GetObject: ['s3:GetObject'],
  HeadObject: ['s3:GetObject'],
  PutObject: ['s3:PutObject'],
  CreateMultipartUpload: ['s3:PutObject'],
  UploadPart: ['s3:PutObject'],
  CompleteMultipartUpload: ['s3:PutObject'],
  AbortMultipartUpload: ['s3:AbortMultipartUpload'],
  ListParts: ['s3:ListMultipartUploadParts'],
  DeleteObject: ['s3:DeleteObject'],
  DeleteObjects: ['s3:DeleteObject'],
  CopyObject: ['s3:GetObject', 's3:PutObject'],
  GetObjectTagging: ['s3:GetObjectTagging'],
  PutObjectTagging: ['s3:PutObjectTagging'],
  ListObjectsV2: ['s3:ListBucket'],
  ListMultipartUploads: ['s3:ListBucketMultipartUploads'],
  CreateModelInvocationJob: ['bedrock:CreateModelInvocationJob'],
  GetModelInvocationJob: ['bedrock:GetModelInvocationJob'],
  ListModelInvocationJobs: ['bedrock:ListModelInvocationJobs'],
  StopModelInvocationJob: ['bedrock:StopModelInvocationJob'],
  InvokeModel: ['bedrock:InvokeModel'],
  Converse: ['bedrock:InvokeModel'],
  InvokeModelWithResponseStream: ['bedrock:InvokeModelWithResponseStream'],
  ConverseStream: ['bedrock:InvokeModelWithResponseStream'],
  CountTokens: ['bedrock:CountTokens'],
  ListServiceQuotas: ['servicequotas:ListServiceQuotas'],
  ListAWSDefaultServiceQuotas: ['servicequotas:ListAWSDefaultServiceQuotas'],
};

/** Where the library sends SDK commands a step never sends: the local double (its own server) and doctor (a preflight run by hand). */
const NOT_A_STEP = (file: string) => file.startsWith('src/local/') || file === 'src/doctor.ts' || file === 'src/cli/doctor.ts';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** `Command`s and paginators the library uses, with the files that use them. */
function sdkCalls(): Map<string, string[]> {
  const calls = new Map<string, string[]>();
  for (const path of sources(join(ROOT, 'src'))) {
    const file = relative(ROOT, path).split('\\').join('/');
    if (NOT_A_STEP(file)) continue;
    const code = readFileSync(path, 'utf8');
    for (const m of code.matchAll(/\bnew ([A-Z][A-Za-z0-9]*)Command\(|\bpaginate([A-Z][A-Za-z0-9]*)\(/g)) {
      const name = (m[1] ?? m[2])!;
      calls.set(name, [...(calls.get(name) ?? []), file]);
    }
  }
  return calls;
}

const allows = (policy: PolicyDocument, action: string) => policy.Statement.some((s) => s.Effect === 'Allow' && list(s.Action).includes(action));

describe('every IAM policy file', () => {
  it('is there: the roles of the recipe and their trust', () => {
    expect([...files.keys()]).toEqual([
      'bedrock-service-role-policy.json',
      'bedrock-service-role-trust.json',
      'ecs-tasks-trust.json',
      'events-trust.json',
      'execution-role-policy.json',
      'launcher-policy.json',
      'scheduler-trust.json',
      'state-machine-policy.json',
      'state-machine-trust.json',
      'task-role-policy.json',
    ]);
  });

  it.each([...files])('%s: a 2012-10-17 policy of Allow statements with unique Sids', (_name, policy) => {
    expect(policy.Version).toBe('2012-10-17');
    expect(Array.isArray(policy.Statement) && policy.Statement.length > 0).toBe(true);
    const sids = policy.Statement.map((s) => s.Sid);
    for (const sid of sids) expect(sid).toMatch(/^[A-Za-z0-9]+$/);
    expect(new Set(sids).size).toBe(sids.length);
    for (const s of policy.Statement) expect(s.Effect).toBe('Allow');
  });
});

describe.each(permissions)('%s', (name, policy) => {
  it('grants no wildcard action', () => {
    for (const s of policy.Statement) {
      for (const action of list(s.Action)) {
        expect(action, `${name} ${s.Sid}`).toMatch(/^[a-z0-9-]+:[A-Za-z0-9]+$/);
      }
    }
  });

  it('scopes every resource: the run\'s buckets, this account, or the model; "*" only where the service allows nothing else', () => {
    for (const s of policy.Statement) {
      for (const resource of list(s.Resource)) {
        if (resource === '*') {
          for (const action of list(s.Action)) expect(STAR_RESOURCE_ONLY[action], `${name} ${s.Sid}: ${action} on "*"`).toBeDefined();
          continue;
        }
        const scoped =
          /^arn:\$\{AWS::Partition\}:s3:::\$\{(WorkBucket|InputBucket)\}(\/\$\{(WorkPrefix|InputPrefix)\}.*)?$/.exec(resource) !== null ||
          /^arn:\$\{AWS::Partition\}:[a-z-]+:(\$\{AWS::Region\})?:\$\{AWS::AccountId\}:[^*].*$/.exec(resource) !== null ||
          /^arn:\$\{AWS::Partition\}:bedrock:\*::foundation-model\/\$\{BedrockFoundationModelId\}$/.exec(resource) !== null ||
          /^\$\{[A-Za-z]+Role\.Arn\}$/.exec(resource) !== null;
        expect(scoped, `${name} ${s.Sid}: ${resource}`).toBe(true);
      }
    }
  });

  it('conditions every iam:PassRole on the service the role is passed to', () => {
    for (const s of policy.Statement.filter((x) => list(x.Action).includes('iam:PassRole'))) {
      expect(list(s.Action), `${s.Sid}: PassRole in a statement of its own`).toEqual(['iam:PassRole']);
      expect(list(s.Resource)).not.toContain('*');
      expect(s.Condition?.StringEquals?.['iam:PassedToService'], s.Sid).toMatch(/^(bedrock|ecs-tasks)\.amazonaws\.com$/);
    }
  });

  it('lists S3 bucket contents only under the run\'s prefixes (s3:prefix condition)', () => {
    for (const s of policy.Statement.filter((x) => list(x.Action).includes('s3:ListBucket'))) {
      const prefixes = list(s.Condition?.StringLike?.['s3:prefix'] ?? s.Condition?.StringEquals?.['s3:prefix']);
      expect(prefixes.length, `${name} ${s.Sid}`).toBeGreaterThan(0);
      for (const p of prefixes) expect(p).toMatch(/^\$\{(WorkPrefix|InputPrefix)\}/);
    }
  });
});

describe.each(trusts)('%s', (_name, policy) => {
  it('lets one AWS service assume the role, for this account only', () => {
    expect(policy.Statement).toHaveLength(1);
    const s = policy.Statement[0]!;
    expect(s.Action).toBe('sts:AssumeRole');
    expect(list(s.Principal?.Service)).toHaveLength(1);
    expect(Object.keys(s.Principal!)).toEqual(['Service']);
    expect(s.Condition?.StringEquals?.['aws:SourceAccount']).toBe('${AWS::AccountId}');
  });
});

describe("the step's task role", () => {
  const task = doc('task-role-policy.json');

  it('allows every AWS call the library makes (outside the local double and doctor)', () => {
    const calls = sdkCalls();
    expect(calls.has('CreateModelInvocationJob')).toBe(true); // the scan finds the calls
    const unknown = [...calls].filter(([command]) => !ACTION_OF[command]).map(([command, where]) => `${command} (${where.join(', ')})`);
    expect(unknown, 'a new SDK command: add its IAM action to ACTION_OF and to deploy/iam/task-role-policy.json (and the template)').toEqual([]);
    const missing = [...calls.keys()].flatMap((command) => ACTION_OF[command]!.filter((a) => !allows(task, a)).map((a) => `${a} (for ${command})`));
    expect(missing).toEqual([]);
  });

  it('creates jobs only of the model, passes only the Bedrock service role, and only to Bedrock', () => {
    const create = task.Statement.find((s) => list(s.Action).includes('bedrock:CreateModelInvocationJob'))!;
    expect(list(create.Resource)).toEqual([
      'arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:model-invocation-job/*',
      'arn:${AWS::Partition}:bedrock:*::foundation-model/${BedrockFoundationModelId}',
      'arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/*${BedrockFoundationModelId}',
    ]);
    const pass = task.Statement.filter((s) => list(s.Action).includes('iam:PassRole'));
    expect(pass.map((s) => [s.Resource, s.Condition])).toEqual([
      ['arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${BedrockRoleName}', { StringEquals: { 'iam:PassedToService': 'bedrock.amazonaws.com' } }],
    ]);
  });

  it('writes, tags and aborts uploads only under the work prefix; reads the exports only', () => {
    const writes = task.Statement.filter((s) => list(s.Action).some((a) => /^s3:(Put|Delete|Abort)/.exec(a) !== null));
    for (const s of writes) expect(list(s.Resource)).toEqual(['arn:${AWS::Partition}:s3:::${WorkBucket}/${WorkPrefix}*']);
    const input = task.Statement.filter((s) => list(s.Resource).some((r) => r.includes('${InputBucket}')));
    expect(input.flatMap((s) => list(s.Action)).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
  });
});

describe("Bedrock's service role", () => {
  it('trusts only Bedrock batch jobs of this account and region (aws:SourceAccount, aws:SourceArn)', () => {
    const s: PolicyStatement = doc('bedrock-service-role-trust.json').Statement[0]!;
    expect(s.Principal).toEqual({ Service: 'bedrock.amazonaws.com' });
    expect(s.Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': '${AWS::AccountId}' },
      ArnEquals: { 'aws:SourceArn': 'arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:model-invocation-job/*' },
    });
  });

  it('reads only the job folders and writes only the outputs', () => {
    const p = doc('bedrock-service-role-policy.json');
    const reads = p.Statement.filter((s) => list(s.Action).includes('s3:GetObject')).flatMap((s) => list(s.Resource));
    expect(reads).toEqual(['arn:${AWS::Partition}:s3:::${WorkBucket}/${WorkPrefix}batch/input/*', 'arn:${AWS::Partition}:s3:::${WorkBucket}/${WorkPrefix}batch/retry-*/input/*']);
    const writes = p.Statement.filter((s) => list(s.Action).includes('s3:PutObject')).flatMap((s) => list(s.Resource));
    expect(writes).toEqual(['arn:${AWS::Partition}:s3:::${WorkBucket}/${WorkPrefix}out/*']);
    expect(p.Statement.flatMap((s) => list(s.Action)).sort()).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject']);
  });
});

describe('the launchers (EventBridge rule and schedule) and the state machine', () => {
  it.each(['launcher-policy.json', 'state-machine-policy.json'])('%s runs only the step task definition, on the cluster, and passes only its two roles to ECS tasks', (name) => {
    const p = doc(name);
    const run = p.Statement.find((s) => list(s.Action).includes('ecs:RunTask'))!;
    expect(run.Resource).toBe('arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/${AWS::StackName}-step:*');
    expect(run.Condition).toEqual({ ArnEquals: { 'ecs:cluster': 'arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/${ClusterName}' } });
    const pass = p.Statement.find((s) => list(s.Action).includes('iam:PassRole'))!;
    expect(pass.Resource).toEqual(['${TaskRole.Arn}', '${ExecutionRole.Arn}']);
    expect(pass.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  it('the state machine may do what RunTask.sync needs (watch, stop, the managed rule), read step.json, and start itself again', () => {
    const p = doc('state-machine-policy.json');
    const actions = p.Statement.flatMap((s) => list(s.Action)).sort();
    expect(actions).toEqual(
      ['ecs:DescribeTasks', 'ecs:RunTask', 'ecs:StopTask', 'events:DescribeRule', 'events:PutRule', 'events:PutTargets', 'iam:PassRole', 's3:GetObject', 's3:ListBucket', 'states:StartExecution'].sort(),
    );
    const rule = p.Statement.find((s) => list(s.Action).includes('events:PutRule'))!;
    expect(rule.Resource).toBe('arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForECSTaskRule');
    const read = p.Statement.find((s) => list(s.Action).includes('s3:GetObject'))!;
    expect(read.Resource).toBe('arn:${AWS::Partition}:s3:::${WorkBucket}/${WorkPrefix}step.json');
  });
});
