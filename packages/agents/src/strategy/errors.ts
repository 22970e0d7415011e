import { NexusError } from "@nexus/core";

/** One problem with a planner's answer: where (`steps.0.agentId`, or empty for the whole answer) and what. */
export interface DraftIssue {
  path: string;
  message: string;
}

/**
 * The planner's answer is not a usable plan: not JSON, not the draft's shape, or steps the registry or the
 * constraints refuse (`details` lists each problem). A 422, like `CannotPlanError`: asking again with the same
 * goal is unlikely to help.
 */
export class PlannerOutputError extends NexusError {
  /** `summary` says whose answer and what is wrong in general; the message adds the first problems. */
  constructor(summary: string, issues: DraftIssue[], options?: { cause?: unknown }) {
    const named = issues
      .slice(0, 5)
      .map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message))
      .join("; ");
    const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : "";
    super("planner_output_invalid", 422, `${summary}${named ? `: ${named}` : ""}${more}`.slice(0, 1000), {
      details: issues,
      cause: options?.cause,
    });
  }
}

/**
 * The LLM provider could not answer: unreachable, timed out, throttled, failing (`retriable`: a 503), or
 * refusing the request for a reason retrying cannot fix (a 502). The message names the provider and the
 * HTTP status or error code only.
 */
export class PlannerUnavailableError extends NexusError {
  readonly retriable: boolean;

  constructor(message: string, options: { retriable: boolean; cause?: unknown }) {
    super("planner_unavailable", options.retriable ? 503 : 502, message, { cause: options.cause });
    this.retriable = options.retriable;
  }
}

/** The LLM planner's settings are missing or wrong (model, URL, API key secret, credentials): a 500. */
export class PlannerConfigError extends NexusError {
  constructor(message: string) {
    super("planner_not_configured", 500, message);
  }
}
