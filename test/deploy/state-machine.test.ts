/**
 * deploy/state-machine.asl.json, the Step Functions loop of the deploy recipe: a well-kept Amazon
 * States Language validator (asl-validator) accepts it and refuses broken copies of it, and its
 * shape is the one docs/deploy.md describes: run the step (RunTask.sync, retried with backoff),
 * read step.json (aws-sdk:s3:getObject, States.StringToJson), stop when it says done, else wait
 * and loop, within a bound on steps, handing the loop to a new execution before the history fills.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { placeholders, stateMachine, strings, template, type Json } from '../support/deploy.js';

type Validate = (definition: unknown, options?: { checkPaths?: boolean; checkArn?: boolean }) => {
  isValid: boolean;
  errors: { 'Error code'?: string; Message?: string }[];
  errorsText: (separator?: string) => string;
};
const validate = createRequire(import.meta.url)('asl-validator') as Validate;

interface State {
  Type: string;
  Next?: string;
  Default?: string;
  End?: boolean;
  Resource?: string;
  Parameters?: Record<string, Json>;
  ResultSelector?: Record<string, Json>;
  Retry?: { ErrorEquals: string[]; IntervalSeconds?: number; BackoffRate?: number; MaxAttempts?: number }[];
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
  Choices?: (Record<string, Json> & { Next: string })[];
  SecondsPath?: string;
  ErrorPath?: string;
  CausePath?: string;
  Error?: string;
}
interface Machine {
  StartAt: string;
  States: Record<string, State>;
}

/** A fresh copy (the validator writes defaults into what it is given). */
const machine = (): Machine => stateMachine() as unknown as Machine;
const check = (definition: unknown) => validate(structuredClone(definition));

describe('the state machine', () => {
  it('is valid Amazon States Language (asl-validator, paths and ARNs checked)', () => {
    const r = check(machine());
    expect(r.errorsText('\n')).toBe('');
    expect(r.isValid).toBe(true);
  });

  it('is refused when broken: the validator is really checking this file', () => {
    const broken: [string, (m: Machine) => void, string][] = [
      ['a transition to no state', (m) => void (m.States.Step!.Next = 'NoSuchState'), 'MISSING_TRANSITION_TARGET'],
      ['a wait with two durations', (m) => void Object.assign(m.States.WaitForJobs!, { Seconds: 600 }), 'WAIT_DURATION'],
      ['a counter with a malformed intrinsic function', (m) => void ((m.States.Count!.Parameters!.loop as Record<string, Json>)['here.$'] = 'States.MathAdd($.loop.here 1'), 'SCHEMA_VALIDATION_FAILED'],
      ['a state nothing reaches', (m) => void (m.States.Orphan = { Type: 'Succeed' }), 'MISSING_TRANSITION_TARGET'],
    ];
    for (const [what, breakIt, code] of broken) {
      const m = machine();
      breakIt(m);
      const r = check(m);
      expect(r.isValid, what).toBe(false);
      expect(r.errors.map((e) => e['Error code']), what).toContain(code);
    }
  });

  it('runs the step as a Fargate task and waits for it (.sync), retrying with backoff, and names the error it ends on', () => {
    const { States } = machine();
    const step = States.Step!;
    expect(step.Resource).toBe('arn:aws:states:::ecs:runTask.sync');
    expect(step.Parameters?.LaunchType).toBe('FARGATE');
    for (const error of ['ECS.AmazonECSException', 'States.TaskFailed']) {
      const retry = step.Retry?.find((r) => r.ErrorEquals.includes(error));
      expect(retry, `a retry on ${error}`).toBeDefined();
      expect(retry!.BackoffRate).toBeGreaterThan(1);
      expect(retry!.MaxAttempts).toBeGreaterThan(0);
    }
    for (const name of ['Step', 'ReadStepFile', 'ContinueAsNewExecution']) {
      const c = States[name]!.Catch?.find((x) => x.ErrorEquals.includes('States.ALL'));
      expect(c, `${name} catches every error`).toBeDefined();
      const fail = States[c!.Next]!;
      expect(fail.Type).toBe('Fail');
      expect(fail.ErrorPath).toBe(`${c!.ResultPath}.Error`);
      expect(fail.CausePath).toBe(`${c!.ResultPath}.Cause`);
    }
  });

  it('reads step.json with the aws-sdk S3 integration and parses it with States.StringToJson', () => {
    const read = machine().States.ReadStepFile!;
    expect(read.Resource).toBe('arn:aws:states:::aws-sdk:s3:getObject');
    expect(read.Parameters).toEqual({ Bucket: '${WorkBucket}', Key: '${StepKey}' });
    expect(read.ResultSelector).toEqual({ 'step.$': 'States.StringToJson($.Body)' });
  });

  it('loops step → read → count → (done: stop) → wait → budget → step, and stops on done, on a missing done, and at maxSteps', () => {
    const { StartAt, States } = machine();
    // the path a run takes while its jobs are running: every state's normal way on
    const path: string[] = [];
    let at = StartAt;
    while (!path.includes(at)) {
      path.push(at);
      const s = States[at]!;
      at = (s.Type === 'Choice' ? s.Default : s.Next)!;
    }
    expect(path.slice(path.indexOf(at))).toEqual(['WithinBudget', 'Step', 'ReadStepFile', 'Count', 'CollectedYet', 'WaitForJobs']);
    expect(States.WaitForJobs!.SecondsPath).toBe('$.config.waitSeconds');

    const done = States['CollectedYet']!.Choices!;
    expect(done).toContainEqual({ Variable: '$.step.done', BooleanEquals: true, Next: 'Collected' });
    expect(States.Collected!.Type).toBe('Succeed');
    expect(done[0]).toEqual({ Not: { Variable: '$.step.done', IsBoolean: true }, Next: 'StepFileUnreadable' });

    const budget = States.WithinBudget!.Choices!;
    expect(budget[0]).toEqual({ Variable: '$.loop.total', NumericGreaterThanEqualsPath: '$.config.maxSteps', Next: 'StepLimitReached' });
    expect(States.StepLimitReached!).toMatchObject({ Type: 'Fail', Error: 'StepLimitReached' });
    expect(States.Count!.Parameters!.loop).toEqual({ 'here.$': 'States.MathAdd($.loop.here, 1)', 'total.$': 'States.MathAdd($.loop.total, 1)' });
  });

  it('hands the loop to a new execution, with the count so far, before the history reaches 25,000 events', () => {
    const { States } = machine();
    const defaults = States.Defaults!.Parameters!.defaults as Record<string, number>;
    // history events per state kind, for one pass of the loop: a .sync task 6 (entered, scheduled,
    // started, submitted, succeeded, exited), another task 5, a pass, choice or wait 2 each
    const perPass = 2 /* WithinBudget */ + 6 /* Step */ + 5 /* ReadStepFile */ + 2 /* Count */ + 2 /* CollectedYet */ + 2 /* WaitForJobs */;
    // a retry adds at most 6 events (failed, scheduled, started, submitted...); allow one per pass
    expect(defaults.stepsPerExecution! * (perPass + 6) + 50).toBeLessThan(25_000);
    expect(defaults.maxSteps).toBeGreaterThan(defaults.stepsPerExecution!);
    const next = States.ContinueAsNewExecution!;
    expect(next.Resource).toBe('arn:aws:states:::states:startExecution');
    expect(next.Parameters!['StateMachineArn.$']).toBe('$$.StateMachine.Id');
    expect((next.Parameters!.Input as Record<string, Json>)['stepsDone.$']).toBe('$.loop.total');
    // everything the execution input may set is carried over
    for (const key of Object.keys(defaults)) expect(Object.keys(next.Parameters!.Input as object)).toContain(key === 'stepsDone' ? 'stepsDone.$' : `${key}.$`);
  });

  it('is the definition the CloudFormation template deploys, with a substitution for each of its placeholders', () => {
    const t = template();
    const loop = t.Resources.StepLoop!;
    expect(loop.Type).toBe('AWS::StepFunctions::StateMachine');
    expect(loop.Properties.Definition).toEqual(stateMachine());
    const used = new Set(strings(stateMachine()).flatMap(placeholders));
    expect([...used].sort()).toEqual(Object.keys(loop.Properties.DefinitionSubstitutions as object).sort());
  });
});
