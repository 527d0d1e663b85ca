import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import {
  BaseChatModel,
  type BaseChatModelParams,
} from '@langchain/core/language_models/chat_models';
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';

/**
 * A chat model that replies from a script, for examples and tests without an
 * API key. Each reply is an AIMessage (with tool calls if you like) or a
 * function of the conversation so far. Past the end of the script it says "Done.".
 *
 * @example
 * const llm = new ScriptedChatModel({ replies: [new AIMessage({ content: '', tool_calls: [{ id: 'c1', name: 'send_email', args: { to: 'a@b.c' } }] }), 'Sent.'] });
 */
export class ScriptedChatModel extends BaseChatModel {
  private readonly replies: Array<
    AIMessage | string | ((messages: BaseMessage[]) => AIMessage | string)
  >;
  private cursor = 0;

  constructor(
    fields: {
      replies: Array<AIMessage | string | ((messages: BaseMessage[]) => AIMessage | string)>;
    } & BaseChatModelParams,
  ) {
    super(fields);
    this.replies = fields.replies;
  }

  _llmType(): string {
    return 'hitloop-scripted';
  }

  /** Tools are part of the script already; binding them changes nothing. */
  override bindTools(): this {
    return this;
  }

  async _generate(
    messages: BaseMessage[],
    _options: this['ParsedCallOptions'],
    _runManager?: CallbackManagerForLLMRun,
  ): Promise<ChatResult> {
    const next = this.replies[this.cursor++] ?? 'Done.';
    const reply = typeof next === 'function' ? next(messages) : next;
    const message = typeof reply === 'string' ? new AIMessage(reply) : reply;
    return {
      generations: [{ message, text: typeof message.content === 'string' ? message.content : '' }],
    };
  }
}
