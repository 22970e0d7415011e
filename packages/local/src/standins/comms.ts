import { startChatStandIn } from "./comms-chat.js";
import { startSesStandIn } from "./comms-ses.js";
import { startTwilioStandIn } from "./comms-twilio.js";
import type { StandInFactory } from "./types.js";

export { CHAT_SECRET_NAME, FAILING_HOOKS, type ReceivedChat, startChatStandIn } from "./comms-chat.js";
export { LOCAL_EMAIL_FROM, startSesStandIn } from "./comms-ses.js";
export {
  type ReceivedSms,
  startTwilioStandIn,
  TWILIO_FROM,
  TWILIO_SECRET_NAME,
  TWILIO_TEST_NUMBERS,
} from "./comms-twilio.js";

/**
 * The comms agent's stand-ins, by name in `LocalNexus.standIns`: `ses` (aws-ses-v2-local), `twilio` (the
 * Messages API) and `chat` (a Slack / Teams webhook receiver). All on 127.0.0.1, on free ports.
 */
export const commsStandIns: StandInFactory[] = [startSesStandIn, startTwilioStandIn, startChatStandIn];
