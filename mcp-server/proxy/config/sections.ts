import { join } from 'node:path';
import type { z } from 'zod';
import { ConfigError, configErrorFromZod } from '../../../shared/errors.js';
import { createPolicy, PolicyConfig } from '../../../shared/policies/config.js';
import type { HITLPolicy } from '../../../shared/policies/policy.js';
import {
  type ConfigDocument,
  defaultHitloopHome,
  readConfigText,
  resolvePath,
} from './document.js';
import { expandString } from './expand.js';
import { parseJsonc } from './jsonc.js';
import { ApprovalConfig, ProxyConfig, TelemetryConfig } from './schema.js';
import type { ApprovalSettings, ProxySettings, TelemetrySettings } from './types.js';

// hitloop's own sections of a config file (`policy`, `approval`, `telemetry`,
// `proxy`), or their defaults for a command line without a config file.

const DEFAULT_POLICY = { type: 'rules', default: 'ask' } as const;

/** hitloop's settings, resolved; `proxy.prefixNames` stays undefined until the servers are known. */
export interface Sections {
  policy: HITLPolicy;
  trustedServers: string[];
  approval: ApprovalSettings;
  telemetry: TelemetrySettings;
  proxy: Omit<ProxySettings, 'prefixNames'> & { prefixNames?: boolean };
}

/** The sections of a config file, checked, with variables expanded and paths resolved. */
export function resolveSections(doc: ConfigDocument): Sections {
  const { json, file } = doc;
  const approval = parseSection(ApprovalConfig, json.approval, file, 'approval');
  const telemetry = parseSection(TelemetryConfig, json.telemetry, file, 'telemetry');
  const proxy = parseSection(ProxyConfig, json.proxy, file, 'proxy');
  let db: string | undefined;
  if (telemetry.db === false) db = undefined;
  else if (telemetry.db === undefined)
    db = join(defaultHitloopHome(doc.expand.env, doc.homeDir), 'telemetry.db');
  else db = resolvePath(expandString(telemetry.db, 'telemetry.db', doc.expand), doc);
  const store =
    approval.store === undefined
      ? undefined
      : /^[a-z][a-z0-9+.-]*:\/\//i.test(approval.store) || approval.store === 'memory'
        ? expandString(approval.store, 'approval.store', doc.expand)
        : resolvePath(expandString(approval.store, 'approval.store', doc.expand), doc);
  const hook = approval.webhook;
  const webhook = hook && {
    ...hook,
    url: expandString(hook.url, 'approval.webhook.url', doc.expand),
    callbackBaseUrl: expandString(
      hook.callbackBaseUrl,
      'approval.webhook.callbackBaseUrl',
      doc.expand,
    ),
    secret: expandString(hook.secret, 'approval.webhook.secret', doc.expand),
    headers: Object.fromEntries(
      Object.entries(hook.headers).map(([k, v]) => [
        k,
        expandString(v, `approval.webhook.headers.${k}`, doc.expand),
      ]),
    ),
  };
  if (webhook && webhook.secret.length < 16)
    throw new ConfigError({
      file,
      field: 'approval.webhook.secret',
      problem: 'the secret (after expanding variables) is shorter than 16 characters',
      fix: 'use a long random secret, e.g. `openssl rand -base64 32`',
    });
  if (approval.backend === 'webhook' && !webhook)
    throw new ConfigError({
      file,
      field: 'approval.webhook',
      problem: 'the "webhook" backend needs approval.webhook (url, callbackBaseUrl, secret)',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: hitloop's own ${env:VAR} config syntax, shown to the user
      fix: 'add "webhook": { "url": "https://bridge.example/hitloop", "callbackBaseUrl": "https://...", "secret": "${env:HITLOOP_WEBHOOK_SECRET}" }',
    });
  return {
    ...policyFromValue(json.policy, file, 'policy'),
    approval: {
      ...approvalSettings(approval),
      ...(store !== undefined ? { store } : {}),
      ...(webhook ? { webhook } : {}),
    },
    telemetry: {
      ...(db !== undefined ? { db } : {}),
      required: telemetry.required,
      redactKeys: telemetry.redactKeys,
    },
    proxy: {
      ...proxy,
      protectedPaths: proxy.protectedPaths.map((p, i) =>
        resolvePath(expandString(p, `proxy.protectedPaths[${i}]`, doc.expand), doc),
      ),
    },
  };
}

/** The settings of a command line without a config file. */
export function defaultSections(
  env: Readonly<Record<string, string | undefined>>,
  homeDir: string,
): Sections {
  return {
    ...policyFromValue(undefined, 'command line', undefined),
    approval: approvalSettings(ApprovalConfig.parse({})),
    telemetry: {
      db: join(defaultHitloopHome(env, homeDir), 'telemetry.db'),
      required: false,
      redactKeys: true,
    },
    proxy: ProxyConfig.parse({}),
  };
}

function parseSection<T extends z.ZodType>(
  schema: T,
  value: unknown,
  file: string,
  field: string,
): z.output<T> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw configErrorFromZod(parsed.error, file, field);
  return parsed.data;
}

function approvalSettings(a: z.output<typeof ApprovalConfig>): ApprovalSettings {
  return {
    backend: a.backend,
    fallback: a.fallback,
    timeoutMs: a.timeoutMs,
    toolTimeouts: Object.entries(a.toolTimeouts).map(([tool, timeoutMs]) => ({ tool, timeoutMs })),
    keepAliveMs: a.keepAliveMs,
    resumeWindowMs: a.resumeWindowMs,
    ...(a.instance !== undefined ? { instance: a.instance } : {}),
  };
}

/** `proxy.prefixNames` defaults to on when there are several servers. */
export function finishProxySettings(proxy: Sections['proxy'], manyServers: boolean): ProxySettings {
  return { ...proxy, prefixNames: proxy.prefixNames ?? manyServers };
}

/** The `policy` key (or a policy file's content): a policy, its trusted servers. */
function policyFromValue(
  value: unknown,
  file: string,
  field: string | undefined,
): { policy: HITLPolicy; trustedServers: string[] } {
  const given: unknown = value ?? DEFAULT_POLICY;
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new ConfigError({
      file,
      field,
      problem: `expected a policy object, got ${JSON.stringify(given)}`,
      fix: 'for example "policy": { "type": "rules", "default": "ask", "rules": [] }',
    });
  }
  let candidate: object = given;
  if (!('type' in given)) {
    const bareRules = ['rules', 'default', 'trustedServers'].some((k) => k in given);
    if (!bareRules) {
      throw new ConfigError({
        file,
        field: field ? `${field}.type` : 'type',
        problem: 'no policy type given',
        fix: 'add "type": one of "rules", "risk_based", "audit_plus_escalate", "always_approve"',
      });
    }
    candidate = { type: 'rules', ...given };
  }
  const type = (candidate as { type: unknown }).type;
  const types = ['rules', 'risk_based', 'audit_plus_escalate', 'always_approve'];
  if (!types.includes(type as string)) {
    throw new ConfigError({
      file,
      field: field ? `${field}.type` : 'type',
      problem: `unknown policy type ${JSON.stringify(type)}`,
      fix: `use one of: ${types.map((t) => JSON.stringify(t)).join(', ')}`,
    });
  }
  const parsed = PolicyConfig.safeParse(candidate);
  if (!parsed.success) throw configErrorFromZod(parsed.error, file, field);
  return {
    policy: createPolicy(parsed.data),
    trustedServers: parsed.data.type === 'rules' ? [...parsed.data.trustedServers] : [],
  };
}

/** A policy file (`--policy`): `{"policy": ...}` or the policy itself. */
export function readPolicyFile(
  path: string,
  asGiven: string,
): { policy: HITLPolicy; trustedServers: string[] } {
  const { value } = parseJsonc(readConfigText(path), asGiven);
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'policy' in value)
    return policyFromValue((value as { policy: unknown }).policy, asGiven, 'policy');
  return policyFromValue(value, asGiven, undefined);
}
