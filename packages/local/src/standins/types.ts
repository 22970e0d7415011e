/** What a stand-in gets to know about the runtime starting it. */
export interface StandInContext {
  /** The runtime's data directory, when it keeps data on disk. */
  dataDir?: string;
}

/**
 * A local stand-in for an outside service an agent talks to (SES, Twilio, chat webhooks, …): started by
 * the local runtime on 127.0.0.1, it tells the agents how to reach it through their `NEXUS_*` settings
 * and the local Secrets Manager, and keeps what it received for people and tests to look at.
 */
export interface StandIn {
  name: string;
  /** `NEXUS_*` settings for the agents (endpoints, secret names, …). */
  config: Record<string, string>;
  /** Secrets for the local Secrets Manager endpoint (credentials that point at the stand-in). */
  secrets: Record<string, string>;
  /** Lines for `npm run dev` to print: where it listens and where to look at what it received. */
  describe: string[];
  /** Base URL of the stand-in's own HTTP endpoint (for tests and people). */
  url: string;
  stop(): Promise<void>;
}

export type StandInFactory = (context: StandInContext) => Promise<StandIn>;
