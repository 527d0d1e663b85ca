import type { ApprovalRecord } from '../hub/protocol.js';
import type { RecordedDecision } from '../models/decision.js';
import { redactSecrets, type SecretKeyTest } from '../util/redact.js';

/**
 * The form of an approval record kept at rest: secrets in its arguments
 * hashed once nobody needs them in clear any more.
 *
 * - A pending record is kept as is: reviewers (on any hub sharing the store)
 *   must see what they approve.
 * - Once settled, `args` are redacted; `argsHash` still names the real ones.
 * - Edited arguments are what runs, so a decision's `editedArgs` stay in
 *   clear until the asking process has received them (`deliveredAt`), or a
 *   restart could not run them; after that, and on a request that was
 *   rejected, withdrawn or expired, they are redacted. A late decision's are
 *   never applied, so they are redacted at once.
 *
 * @example
 * store.write(redactedAtRest(record, isDefaultSecretKey));
 */
export function redactedAtRest(record: ApprovalRecord, isSecret: SecretKeyTest): ApprovalRecord {
  if (record.status === 'pending') return record;
  const out: ApprovalRecord = { ...record, args: redactSecrets(record.args, isSecret) };
  const decision = record.decision;
  const applied = record.status === 'approved' && record.deliveredAt === undefined;
  if (decision?.editedArgs && !applied) out.decision = withRedactedEdit(decision, isSecret);
  if (record.lateDecision?.editedArgs)
    out.lateDecision = withRedactedEdit(record.lateDecision, isSecret);
  return out;
}

function withRedactedEdit(decision: RecordedDecision, isSecret: SecretKeyTest): RecordedDecision {
  return { ...decision, editedArgs: redactSecrets(decision.editedArgs!, isSecret) };
}
