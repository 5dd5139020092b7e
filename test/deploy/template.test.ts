/**
 * deploy/bedrock-batch.template.json, the CloudFormation template of the deploy recipe: cfn-lint
 * passes it, every reference in it resolves, its IAM documents and state machine are the reviewed
 * files of deploy/, its task runs the step (`run ... --no-wait`) with no secret in its
 * environment, and its EventBridge rule matches Bedrock's official sample event for the jobs it is
 * meant for (the event as docs/deploy.md quotes it) and no other.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES } from '../../src/bedrock/vocabulary.js';
import { jobNameFor, slugOf } from '../../src/jobs/run.js';
import { matchesPattern, type EventPattern } from '../support/event-pattern.js';
import { iamFiles, placeholders, ROOT, template, TEMPLATE_FILE, unSub, type Json } from '../support/deploy.js';

const t = template();
const PSEUDO = new Set(['AWS::AccountId', 'AWS::Region', 'AWS::Partition', 'AWS::StackName', 'AWS::StackId', 'AWS::URLSuffix', 'AWS::NoValue', 'AWS::NotificationARNs']);

/** Every Ref, GetAtt, Fn::Sub name, Condition and DependsOn in the template, with where it is. */
function references(): { kind: string; name: string; at: string }[] {
  const out: { kind: string; name: string; at: string }[] = [];
  const walk = (v: Json, at: string, inDefinition = false): void => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${at}[${i}]`, inDefinition));
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'Ref' && typeof x === 'string') out.push({ kind: 'Ref', name: x, at });
      else if (k === 'Fn::GetAtt') out.push({ kind: 'GetAtt', name: Array.isArray(x) ? String(x[0]) : String(x).split('.')[0]!, at });
      else if (k === 'Fn::Sub') {
        const [text, vars] = Array.isArray(x) ? [x[0] as string, x[1] as Record<string, Json>] : [x as string, {}];
        for (const p of placeholders(text)) if (!(p.split('.')[0]! in vars)) out.push({ kind: 'Sub', name: p.split('.')[0]!, at });
        if (vars) walk(vars, `${at}.Fn::Sub`, inDefinition);
      } else if (k === 'Fn::If') out.push({ kind: 'Condition', name: String((x as Json[])[0]), at });
      else if (k === 'Condition' && typeof x === 'string' && !inDefinition) out.push({ kind: 'Condition', name: x, at });
      // the state machine's ${...} are DefinitionSubstitutions, checked by the state machine test
      if (k !== 'Ref' && k !== 'Fn::Sub') walk(x, `${at}.${k}`, inDefinition || k === 'Definition');
    }
  };
  walk(t as unknown as Json, '$');
  for (const [name, r] of Object.entries(t.Resources)) for (const d of [r.DependsOn ?? []].flat()) out.push({ kind: 'DependsOn', name: d, at: `Resources.${name}` });
  return out;
}

/** Strings holding a `${}` that are not the text of an Fn::Sub (CloudFormation would pass them on as they are). */
function plainPlaceholders(v: Json): string[] {
  if (typeof v === 'string') return v.includes('${') ? [v] : [];
  if (Array.isArray(v)) return v.flatMap(plainPlaceholders);
  if (v === null || typeof v !== 'object') return [];
  return Object.entries(v).flatMap(([k, x]) => (k === 'Fn::Sub' && typeof x === 'string' ? [] : plainPlaceholders(x)));
}

/** The rule's event pattern with the template's parameters given values. */
function rulePattern(params: Record<string, string>): EventPattern {
  const resolve = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v !== null && typeof v === 'object') {
      if (typeof v.Ref === 'string') {
        const value = params[v.Ref] ?? t.Parameters[v.Ref]?.Default;
        if (value === undefined) throw new Error(`no value for ${v.Ref}`);
        return String(value);
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
    }
    return v;
  };
  return resolve(t.Resources.JobEndedRule!.Properties.EventPattern!) as EventPattern;
}

/** Bedrock's official sample event, as docs/deploy.md quotes it (the first json block after its heading). */
function sampleEvent(): Record<string, Json> & { detail: Record<string, Json> } {
  const doc = readFileSync(`${ROOT}docs/deploy.md`, 'utf8');
  const at = doc.indexOf("Bedrock's official sample event");
  expect(at, "docs/deploy.md quotes Bedrock's official sample event").toBeGreaterThan(-1);
  const block = /```json\n([\s\S]*?)\n```/.exec(doc.slice(at));
  expect(block).not.toBeNull();
  return JSON.parse(block![1]!) as Record<string, Json> & { detail: Record<string, Json> };
}

const withDetail = (event: ReturnType<typeof sampleEvent>, detail: Record<string, Json>, top: Record<string, Json> = {}) => ({ ...event, ...top, detail: { ...event.detail, ...detail } });

describe('the CloudFormation template', () => {
  it('passes cfn-lint', () => {
    const r = spawnSync('cfn-lint', [TEMPLATE_FILE], { encoding: 'utf8' });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('cfn-lint is not installed, and this test needs it: python3 -m pip install --user cfn-lint (then make sure ~/.local/bin is on PATH)');
    }
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });

  it('resolves every reference: each Ref, GetAtt and ${} names a parameter, a resource or a pseudo parameter; each condition exists', () => {
    const refs = references();
    expect(refs.length).toBeGreaterThan(40); // the walk finds them
    const known = new Set([...Object.keys(t.Parameters), ...Object.keys(t.Resources), ...PSEUDO]);
    const broken = refs.filter((r) => (r.kind === 'Condition' ? !(r.name in t.Conditions) : r.kind === 'GetAtt' || r.kind === 'DependsOn' ? !(r.name in t.Resources) : !known.has(r.name)));
    expect(broken).toEqual([]);
    // and a resource that exists only on a condition is referred to only under that condition
    const conditional = new Map(Object.entries(t.Resources).filter(([, r]) => r.Condition).map(([n, r]) => [n, r.Condition!]));
    for (const [name, r] of Object.entries(t.Resources)) {
      for (const ref of references().filter((x) => x.at.startsWith(`$.Resources.${name}.`) && conditional.has(x.name))) {
        expect(r.Condition, `${name} refers to ${ref.name}, which exists only when ${conditional.get(ref.name)}`).toBe(conditional.get(ref.name));
      }
    }
  });

  it('holds the IAM documents of deploy/iam/ exactly (each ${} in them an Fn::Sub)', () => {
    const files = iamFiles();
    const uses: [string, string, string][] = [
      ['BedrockServiceRole', 'trust', 'bedrock-service-role-trust.json'],
      ['BedrockServiceRole', 'read-job-folders-write-outputs', 'bedrock-service-role-policy.json'],
      ['TaskRole', 'trust', 'ecs-tasks-trust.json'],
      ['TaskRole', 'bedrock-batch-step', 'task-role-policy.json'],
      ['ExecutionRole', 'trust', 'ecs-tasks-trust.json'],
      ['ExecutionRole', 'pull-image-write-log', 'execution-role-policy.json'],
      ['EventsRole', 'trust', 'events-trust.json'],
      ['EventsRole', 'run-the-step', 'launcher-policy.json'],
      ['SchedulerRole', 'trust', 'scheduler-trust.json'],
      ['SchedulerRole', 'run-the-step', 'launcher-policy.json'],
      ['StateMachineRole', 'trust', 'state-machine-trust.json'],
      ['StateMachineRole', 'step-loop', 'state-machine-policy.json'],
    ];
    const roles = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::IAM::Role');
    expect(roles.map(([n]) => n).sort()).toEqual([...new Set(uses.map((u) => u[0]))].sort());
    expect([...new Set(uses.map((u) => u[2]))].sort()).toEqual([...files.keys()].sort());
    for (const [role, policy, file] of uses) {
      const p = t.Resources[role]!.Properties;
      const inTemplate =
        policy === 'trust' ? p.AssumeRolePolicyDocument : (p.Policies as { PolicyName: string; PolicyDocument: Json }[]).find((x) => x.PolicyName === policy)?.PolicyDocument;
      expect(inTemplate, `${role} ${policy}`).toBeDefined();
      expect(unSub(inTemplate!), `${role} ${policy} differs from deploy/iam/${file}: change both`).toEqual(files.get(file));
      // a ${} left as plain text would reach IAM as it is: every one is inside an Fn::Sub
      expect(plainPlaceholders(inTemplate!), `${role} ${policy}`).toEqual([]);
    }
    expect((t.Resources.TaskRole!.Properties.Policies as unknown[]).length).toBe(1);
  });

  it('runs the step: a Fargate task of run ... --no-wait --json on the run in S3, as the Bedrock role, with no secret in its environment', () => {
    const task = t.Resources.TaskDefinition!.Properties;
    expect(task.RequiresCompatibilities).toEqual(['FARGATE']);
    expect([t.Parameters.TaskCpu!.Default, t.Parameters.TaskMemory!.Default]).toEqual(['512', '1024']);
    const [container, ...others] = task.ContainerDefinitions as Record<string, Json>[];
    expect(others).toEqual([]);
    const command = unSub(container!.Command!) as Json[];
    expect(command.slice(0, 4)).toEqual(['run', 's3://${InputBucket}/${InputPrefix}', '--work', 's3://${WorkBucket}/${WorkPrefix}']);
    expect(command).toContain('--no-wait');
    expect(command).toContain('--json');
    expect(command[command.indexOf('--role-arn') + 1]).toBe('arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${BedrockRoleName}');
    expect(command[command.indexOf('--model') + 1]).toEqual({ Ref: 'BedrockModelId' });
    const env = container!.Environment as { Name: string; Value: Json }[];
    for (const e of env) expect(e.Name).not.toMatch(/KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL|AWS_PROFILE/i);
    expect(container!.Secrets).toBeUndefined();
    expect(container!.LinuxParameters).toEqual({ InitProcessEnabled: true }); // SIGTERM reaches node, which records the interruption
    // the image is this account's repository's, by tag or by digest
    expect(JSON.stringify(container!.Image)).toContain('${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${ImageRepository}@${ImageDigest}');
  });

  it('starts the step on each ended job of the run (EventBridge) and on a schedule (EventBridge Scheduler), both on the task', () => {
    const rule = t.Resources.JobEndedRule!.Properties;
    const schedule = t.Resources.StepSchedule!.Properties;
    const ruleTarget = (rule.Targets as Record<string, Json>[])[0]!;
    const scheduleTarget = schedule.Target as Record<string, Json>;
    for (const target of [ruleTarget, scheduleTarget]) {
      expect(unSub(target.Arn!)).toBe('arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/${ClusterName}');
      expect(target.EcsParameters).toMatchObject({ TaskDefinitionArn: { Ref: 'TaskDefinition' }, TaskCount: 1, LaunchType: 'FARGATE' });
    }
    expect(t.Parameters.ScheduleExpression!.Default).toBe('rate(15 minutes)');
    expect(schedule.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
    // the rule wakes a step when a slot frees or collect may run: the terminal statuses, all of them
    const pattern = rulePattern({});
    expect([...(pattern.detail as { status: string[] }).status].sort()).toEqual([...TERMINAL_STATUSES].sort());
  });

  it("names the run's jobs with the default prefix: run's job names start with JobNamePrefix", () => {
    const prefix = String(t.Parameters.JobNamePrefix!.Default);
    const name = jobNameFor({ namePrefix: `${slugOf('s3://my-bucket/runs/2026-12-01/batch')}-3f9a1c2e` }, { name: 'job-0001' });
    expect(name.startsWith(prefix)).toBe(true);
    expect(new RegExp(t.Parameters.JobNamePrefix!.AllowedPattern!).exec('batch-3f9a1c2e-')).not.toBeNull();
  });
});

describe("the rule's event pattern against Bedrock's official sample event (docs/deploy.md)", () => {
  const event = sampleEvent();

  it('is the sample event of a batch job state change', () => {
    expect(event.source).toBe('aws.bedrock');
    expect(event['detail-type']).toBe('Batch Inference Job State Change');
    expect(event.detail.batchJobName).toBe('dummy-batch-job-name');
  });

  it("matches it when JobNamePrefix is its job's, and not with the default prefix", () => {
    expect(matchesPattern(rulePattern({ JobNamePrefix: 'dummy-batch-' }), event)).toBe(true);
    expect(matchesPattern(rulePattern({}), event)).toBe(false);
  });

  it("matches an ended job of the run (each terminal status) and nothing else: another prefix, a running job, another source or detail type", () => {
    const pattern = rulePattern({ JobNamePrefix: 'batch-3f9a1c2e-' });
    const ours = withDetail(event, { batchJobName: 'batch-3f9a1c2e-job-0007' });
    for (const status of TERMINAL_STATUSES) expect(matchesPattern(pattern, withDetail(ours, { status })), status).toBe(true);
    for (const status of ['Submitted', 'Validating', 'Scheduled', 'InProgress', 'Stopping']) expect(matchesPattern(pattern, withDetail(ours, { status })), status).toBe(false);
    expect(matchesPattern(pattern, withDetail(ours, { batchJobName: 'batch-99aa77bb-job-0007' }))).toBe(false);
    expect(matchesPattern(pattern, withDetail(ours, { batchJobName: 'nightly-batch-3f9a1c2e-job-0007' }))).toBe(false);
    expect(matchesPattern(pattern, withDetail(ours, {}, { source: 'aws.sagemaker' }))).toBe(false);
    expect(matchesPattern(pattern, withDetail(ours, {}, { 'detail-type': 'Model Customization Job State Change' }))).toBe(false);
    const { batchJobName: _, ...noName } = ours.detail;
    expect(matchesPattern(pattern, { ...ours, detail: noName })).toBe(false);
  });
});
