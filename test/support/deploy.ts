/**
 * The deploy recipe's files as the deploy tests read them: the CloudFormation template, the IAM
 * policy files, the state machine, and the helpers that compare the template's copies with them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEPLOY = `${ROOT}deploy/`;
export const TEMPLATE_FILE = `${DEPLOY}bedrock-batch.template.json`;
export const STATE_MACHINE_FILE = `${DEPLOY}state-machine.asl.json`;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: string | string[];
  Principal?: { Service?: string | string[] };
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: string;
  Statement: PolicyStatement[];
}

export interface Template {
  Parameters: Record<string, { Type: string; Default?: string | number; AllowedValues?: (string | number)[]; AllowedPattern?: string }>;
  Conditions: Record<string, Json>;
  Resources: Record<string, { Type: string; Condition?: string; DependsOn?: string | string[]; Properties: Record<string, Json> }>;
  Outputs: Record<string, { Condition?: string; Value: Json }>;
}

export const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
export const template = (): Template => readJson<Template>(TEMPLATE_FILE);
export const stateMachine = (): Record<string, Json> => readJson<Record<string, Json>>(STATE_MACHINE_FILE);

/** The IAM policy files, by name (`task-role-policy.json`, ...). */
export function iamFiles(): Map<string, PolicyDocument> {
  const dir = `${DEPLOY}iam/`;
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  return new Map(files.map((f) => [f, readJson<PolicyDocument>(dir + f)]));
}

export const list = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/** A template value with every `{"Fn::Sub": "text"}` replaced by its text: what the IAM files hold. */
export function unSub(value: Json): Json {
  if (Array.isArray(value)) return value.map(unSub);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'Fn::Sub' && typeof value['Fn::Sub'] === 'string') return value['Fn::Sub'];
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unSub(v)]));
  }
  return value;
}

/** The `${Name}` placeholders of a text (`${!Literal}` excluded), with their dotted attribute if any. */
export function placeholders(text: string): string[] {
  return [...text.matchAll(/\$\{(?!!)([^}]+)\}/g)].map((m) => m[1]!);
}

/** Every string inside a JSON value. */
export function strings(value: Json): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}
