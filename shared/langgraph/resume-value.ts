import { z } from 'zod';

/** Agent Inbox's `HumanInterruptConfig`: which answers the reviewer may give. */
export interface HumanInterruptConfig {
  allow_accept: boolean;
  allow_edit: boolean;
  allow_respond: boolean;
  allow_ignore: boolean;
}

/** Agent Inbox's `HumanInterrupt`: the value the gate passes to `interrupt()`. */
export interface HumanInterrupt {
  action_request: { action: string; args: Record<string, unknown> };
  config: HumanInterruptConfig;
  description?: string;
}

const Args = z.record(z.string(), z.unknown());
const ActionRequest = z.object({ action: z.string().min(1), args: Args });

/** Agent Inbox's `HumanResponse`. */
const HumanResponse = z.discriminatedUnion('type', [
  z.object({ type: z.literal('accept'), args: z.unknown().optional() }),
  z.object({ type: z.literal('ignore'), args: z.unknown().optional() }),
  z.object({ type: z.literal('response'), args: z.string() }),
  z.object({ type: z.literal('edit'), args: ActionRequest }),
]);

/** LangChain `humanInTheLoopMiddleware` decisions. */
const MiddlewareDecision = z.discriminatedUnion('type', [
  z.object({ type: z.literal('approve') }),
  z.object({
    type: z.literal('edit'),
    editedAction: z.object({ name: z.string().min(1), args: Args }),
  }),
  z.object({ type: z.literal('reject'), message: z.string().optional() }),
]);

const OneAnswer = z.union([HumanResponse, MiddlewareDecision]);

/** What a resume value means, whichever shape it came in. */
export type ResumeAnswer =
  | { kind: 'accept' }
  | { kind: 'edit'; toolName: string; args: Record<string, unknown> }
  | { kind: 'reject'; reason: string; via: 'reject' | 'response' | 'ignore' };

/**
 * Reads the value passed to `Command({ resume })` for one gated call: an Agent
 * Inbox `HumanResponse` (or a one-element array of them, as Agent Inbox
 * sends), a `humanInTheLoopMiddleware` decision, or `{ decisions: [decision] }`.
 * Anything else throws an error that names the accepted shapes.
 *
 * @example
 * parseResumeValue({ type: 'edit', args: { action: 'send_email', args: { to: 'b@c.d' } } });
 */
export function parseResumeValue(value: unknown, config?: HumanInterruptConfig): ResumeAnswer {
  let candidate = value;
  if (Array.isArray(candidate) && candidate.length === 1) candidate = candidate[0];
  if (
    candidate &&
    typeof candidate === 'object' &&
    'decisions' in candidate &&
    Array.isArray(candidate.decisions) &&
    candidate.decisions.length === 1
  )
    candidate = candidate.decisions[0];
  const parsed = OneAnswer.safeParse(candidate);
  if (!parsed.success) {
    throw new Error(
      `hitloop/langgraph: unrecognised resume value ${truncate(value)}. Resume with an Agent Inbox HumanResponse ({ type: 'accept' | 'edit' | 'response' | 'ignore', args }) or a humanInTheLoopMiddleware decision ({ type: 'approve' } | { type: 'edit', editedAction: { name, args } } | { type: 'reject', message }). Details: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ')}`,
    );
  }
  const a = parsed.data;
  const allowed = (flag: keyof HumanInterruptConfig) => {
    if (config && !config[flag])
      throw new Error(
        `hitloop/langgraph: resume type '${a.type}' is not allowed here (${flag} is false)`,
      );
  };
  switch (a.type) {
    case 'accept':
    case 'approve':
      allowed('allow_accept');
      return { kind: 'accept' };
    case 'edit':
      allowed('allow_edit');
      return 'editedAction' in a
        ? { kind: 'edit', toolName: a.editedAction.name, args: a.editedAction.args }
        : { kind: 'edit', toolName: a.args.action, args: a.args.args };
    case 'response':
      allowed('allow_respond');
      return { kind: 'reject', via: 'response', reason: a.args };
    case 'ignore':
      allowed('allow_ignore');
      return { kind: 'reject', via: 'ignore', reason: 'the reviewer ignored the request' };
    case 'reject':
      return { kind: 'reject', via: 'reject', reason: a.message ?? '' };
  }
}

/**
 * A value as JSON for an error message, cut at 200 characters.
 *
 * @example
 * truncate({ type: 'accept' }) // '{"type":"accept"}'
 */
export function truncate(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
