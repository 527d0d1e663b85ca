import type { AnyScenario, ScenarioName } from '../types.js';
import { CodingScenario } from './coding.js';
import { EmailDraftScenario } from './email-draft.js';
import { RecordUpdateScenario } from './record-update.js';

export * from './coding.js';
export * from './coding-shell.js';
export { allText, findSecrets } from './common.js';
export * from './email-draft.js';
export * from './record-update.js';

/**
 * A fresh scenario by name (each owns its own state: mail store, CRM, workspace).
 *
 * @example
 * const scenario = createScenario('coding');
 */
export function createScenario(name: ScenarioName): AnyScenario {
  switch (name) {
    case 'email_draft':
      return new EmailDraftScenario();
    case 'record_update':
      return new RecordUpdateScenario();
    case 'coding':
      return new CodingScenario();
  }
}
