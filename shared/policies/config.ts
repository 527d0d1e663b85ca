import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, configErrorFromZod, parseJsonText } from '../errors.js';
import { AlwaysApprovePolicy } from './always-approve.js';
import { AuditPlusEscalateOptions, AuditPlusEscalatePolicy } from './audit-plus-escalate.js';
import type { HITLPolicy } from './policy.js';
import { RiskBasedOptions, RiskBasedPolicy } from './risk-based.js';
import { RulesPolicy } from './rules.js';
import { RulesDocument } from './rules-schema.js';

/**
 * A policy as written in a config file, selected by `type`.
 *
 * @example
 * PolicyConfig.parse({ type: 'rules', default: 'ask', rules: [{ tool: 'read_*', effect: 'allow' }] });
 */
export const PolicyConfig = z.discriminatedUnion('type', [
  z.object({ type: z.literal('always_approve') }).strict(),
  RiskBasedOptions.extend({ type: z.literal('risk_based') }),
  AuditPlusEscalateOptions.extend({ type: z.literal('audit_plus_escalate') }),
  RulesDocument.extend({ type: z.literal('rules') }),
]);
export type PolicyConfig = z.input<typeof PolicyConfig>;

/**
 * Builds the policy a config describes.
 *
 * @example
 * const policy = createPolicy({ type: 'risk_based', amountThreshold: 500 });
 */
export function createPolicy(config: PolicyConfig): HITLPolicy {
  const parsed = PolicyConfig.parse(config);
  switch (parsed.type) {
    case 'always_approve':
      return new AlwaysApprovePolicy();
    case 'risk_based': {
      const { type: _type, ...options } = parsed;
      return new RiskBasedPolicy(options);
    }
    case 'audit_plus_escalate': {
      const { type: _type, ...options } = parsed;
      return new AuditPlusEscalatePolicy(options);
    }
    case 'rules': {
      const { type: _type, ...document } = parsed;
      return new RulesPolicy(document);
    }
  }
}

/**
 * Reads a policy from a JSON file. The file may hold the policy under a
 * `policy` key (so one hitloop config file serves the proxy too) or be the
 * policy itself; a bare rules document (`{"rules": [...]}`) means `type: "rules"`.
 * Problems become a ConfigError naming the file and the field.
 *
 * @example
 * const policy = loadPolicyFile('hitloop.json');
 */
export function loadPolicyFile(file: string): HITLPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError({
      file,
      problem:
        code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? String(err)})`,
      fix: code === 'ENOENT' ? 'check the path passed to --config' : undefined,
    });
  }
  return policyFromJson(parseJsonText(text, file), file);
}

/** Like loadPolicyFile, for JSON already parsed (`source` names it in errors). */
export function policyFromJson(json: unknown, source: string): HITLPolicy {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ConfigError({
      file: source,
      problem: 'expected a JSON object',
      fix: 'wrap the policy in { ... }',
    });
  }
  const record = json as Record<string, unknown>;
  const nested = 'policy' in record;
  let candidate: unknown = nested ? record.policy : record;
  if (
    candidate &&
    typeof candidate === 'object' &&
    !('type' in candidate) &&
    'rules' in candidate
  ) {
    candidate = { type: 'rules', ...candidate };
  }
  if (!candidate || typeof candidate !== 'object' || !('type' in candidate)) {
    throw new ConfigError({
      file: source,
      field: nested ? 'policy.type' : 'type',
      problem: 'no policy type given',
      fix: 'add "type": one of "always_approve", "risk_based", "audit_plus_escalate", "rules"',
    });
  }
  const parsed = PolicyConfig.safeParse(candidate);
  if (!parsed.success)
    throw configErrorFromZod(parsed.error, source, nested ? 'policy' : undefined);
  return createPolicy(parsed.data);
}
