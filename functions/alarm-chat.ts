import { alarmChat, noticeFromSns } from "@nexus/agents/alarm-chat";
import { createLogger, secretsManager } from "@nexus/core";

const logger = createLogger("nexus-alarm-chat");
const chat = alarmChat({
  secrets: secretsManager(async () => new (await import("@nexus/core/sdk/secrets-manager")).SecretsManagerClient({})),
  secretName: process.env.NEXUS_CHAT_SECRET ?? "",
  channel: process.env.NEXUS_ALARM_CHAT ?? "",
});

interface SnsEvent {
  Records: Array<{ Sns: { Message: string; MessageId: string } }>;
}

/**
 * Subscribed to the alarm topic: posts each alarm's change of state to the chat channel `NEXUS_ALARM_CHAT` of the comms
 * agent's chat secret. A failed post fails the invocation, which Lambda retries (SNS invokes asynchronously).
 */
export const handler = async (event: SnsEvent) => {
  for (const record of event.Records) {
    const notice = noticeFromSns(record.Sns.Message);
    if (!notice) {
      logger.warn("not an alarm's message; skipped", { messageId: record.Sns.MessageId });
      continue;
    }
    const posted = await chat.notify(notice);
    logger.info("alarm posted", { alarm: notice.name, state: notice.state, channel: posted.channel });
  }
};
