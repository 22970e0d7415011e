/** Baseline of comms: the bare consumer plus SES, sending one email per record. */
import { SESClient, SendEmailCommand } from "@aws-sdk/client-ses";
import { consumer } from "./consumer.js";

const ses = new SESClient({});

export const handler = consumer(async (params) => {
  const { to, subject, text } = params as { to: string[]; subject: string; text: string };
  return ses.send(
    new SendEmailCommand({
      Source: process.env.NEXUS_EMAIL_FROM,
      Destination: { ToAddresses: to },
      Message: { Subject: { Data: subject }, Body: { Text: { Data: text } } },
    }),
  );
});
