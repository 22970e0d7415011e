import type { BedrockRuntimeClient, ConverseCommandOutput } from "@aws-sdk/client-bedrock-runtime";
import { type ClientSource, type Secrets, withSdk } from "@nexus/core";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { isSafeEndpoint } from "../comms/config.js";
import { PlannerConfigError, PlannerOutputError, PlannerUnavailableError } from "./errors.js";
import type { LlmProvider } from "./llm.js";

/** The LLM planner's settings (`NEXUS_*`: the function's environment in AWS, the local runtime's locally). */
export const PLANNER_CONFIG = {
  /** `bedrock` or `openai` (any OpenAI-compatible chat completions API); unset: rules only. */
  provider: "NEXUS_PLANNER_PROVIDER",
  /** The model id (Bedrock model or inference profile id; the OpenAI-compatible API's model name). */
  model: "NEXUS_PLANNER_MODEL",
  /** openai: the API's base URL (default https://api.openai.com/v1). bedrock: an endpoint override (optional). */
  url: "NEXUS_PLANNER_URL",
  /** openai: name (or ARN) of the secret holding the API key: the key itself, or `{"apiKey": "…"}`. */
  secret: "NEXUS_PLANNER_SECRET",
  /** How long one planner request may take, in ms (default 25,000: an API request's answer fits in 30 s). */
  timeoutMs: "NEXUS_PLANNER_TIMEOUT_MS",
  /** bedrock: the region (the function's own in Lambda). */
  region: "AWS_REGION",
} as const;

export const DEFAULT_OPENAI_URL = "https://api.openai.com/v1";
export const DEFAULT_TIMEOUT_MS = 25_000;
/** Room for a plan of the largest size with params; planners answer with JSON only. */
const MAX_TOKENS = 4096;

type Config = Readonly<Record<string, string | undefined>>;

const setting = (config: Config, name: string) => config[name]?.trim() || undefined;

function required(config: Config, name: string): string {
  const value = setting(config, name);
  if (!value) throw new PlannerConfigError(`${name} is not set: the LLM planner cannot run`);
  return value;
}

function timeoutOf(config: Config): number {
  const raw = setting(config, PLANNER_CONFIG.timeoutMs);
  if (raw === undefined) return DEFAULT_TIMEOUT_MS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1000 || value > 300_000) {
    throw new PlannerConfigError(`${PLANNER_CONFIG.timeoutMs} must be a whole number of ms from 1000 to 300000`);
  }
  return value;
}

/** A transport failure (refused, reset, DNS, timeout): retriable, named by its code only. */
function transportError(provider: string, error: unknown, timeoutMs: number): PlannerUnavailableError {
  const e = (error ?? {}) as { name?: unknown; code?: unknown; cause?: { code?: unknown } };
  if (e.name === "TimeoutError" || e.name === "AbortError") {
    return new PlannerUnavailableError(`the ${provider} planner did not answer within ${timeoutMs} ms`, {
      retriable: true,
    });
  }
  const code = [e.code, e.cause?.code].find((c): c is string => typeof c === "string" && /^[A-Z_]{2,40}$/.test(c));
  return new PlannerUnavailableError(`the ${provider} planner could not be reached${code ? ` (${code})` : ""}`, {
    retriable: true,
  });
}

/** Reads the API key: the secret's text, or its `apiKey` field when it is JSON. Never logged or reported. */
async function readApiKey(secrets: Secrets, name: string): Promise<string> {
  let value: string | undefined;
  try {
    value = await secrets.get(name);
  } catch (error) {
    throw new PlannerUnavailableError(`the planner's API key secret '${name}' could not be read`, {
      retriable: true,
      cause: error,
    });
  }
  if (value === undefined) {
    throw new PlannerConfigError(`the secret '${name}' (${PLANNER_CONFIG.secret}) does not exist`);
  }
  let key = value.trim();
  if (key.startsWith("{")) {
    let json: unknown;
    try {
      json = JSON.parse(key);
    } catch {
      // JSON.parse's message quotes the text: it is not passed on.
      json = undefined;
    }
    const parsed = z.object({ apiKey: z.string().min(1) }).safeParse(json);
    key = parsed.success ? parsed.data.apiKey : "";
  }
  if (!key) throw new PlannerConfigError(`the secret '${name}' holds no API key (the key, or {"apiKey": "…"})`);
  return key;
}

const ChatCompletion = /* @__PURE__ */ pure(() =>
  z.object({
    choices: z.array(z.object({ message: z.object({ content: z.string().nullable().optional() }) })).min(1),
  }),
);

/** OpenAI-compatible chat completions: `POST <baseUrl>/chat/completions`, JSON mode, a bearer key. */
export function openAiProvider(options: {
  baseUrl: string;
  model: string;
  /** The key for the Authorization header; undefined: no header (a local server without keys). */
  apiKey: () => Promise<string | undefined>;
  timeoutMs: number;
}): LlmProvider {
  const endpoint = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  const name = "openai";
  return {
    name,
    async complete(system, user, signal) {
      const key = await options.apiKey();
      const timeout = AbortSignal.timeout(options.timeoutMs);
      let status: number;
      let body: unknown;
      try {
        const response = await fetch(endpoint, {
          method: "POST",
          headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
          body: JSON.stringify({
            model: options.model,
            messages: [
              { role: "system", content: system },
              { role: "user", content: user },
            ],
            response_format: { type: "json_object" },
            temperature: 0,
          }),
          // The key must not follow a redirect anywhere.
          redirect: "manual",
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        status = response.status;
        body = response.ok ? await response.json().catch(() => undefined) : await response.body?.cancel();
      } catch (error) {
        throw transportError(name, error, options.timeoutMs);
      }
      if (status === 401 || status === 403) {
        throw new PlannerConfigError(`the ${name} planner refused the API key (HTTP ${status})`);
      }
      if (status === 404) {
        throw new PlannerConfigError(
          `the ${name} planner answered 404: check ${PLANNER_CONFIG.url} and ${PLANNER_CONFIG.model}`,
        );
      }
      if (status === 408 || status === 429 || status >= 500) {
        throw new PlannerUnavailableError(`the ${name} planner failed (HTTP ${status})`, { retriable: true });
      }
      if (status < 200 || status >= 300) {
        throw new PlannerUnavailableError(`the ${name} planner refused the request (HTTP ${status})`, {
          retriable: false,
        });
      }
      const completion = ChatCompletion.safeParse(body);
      const content = completion.success ? completion.data.choices[0]?.message.content : undefined;
      if (!content) {
        throw new PlannerOutputError(`the ${name} planner's answer holds no message`, [
          { path: "choices.0.message.content", message: "is missing or empty" },
        ]);
      }
      return content;
    },
  };
}

interface AwsErrorLike {
  name?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

const BEDROCK_RETRIABLE = new Set([
  "ThrottlingException",
  "ServiceUnavailableException",
  "InternalServerException",
  "ModelNotReadyException",
  "ModelTimeoutException",
]);

/** Maps a Bedrock Runtime (SDK v3) failure by its name and status; never by its message. */
function bedrockError(error: unknown, timeoutMs: number): Error {
  const e = (error ?? {}) as AwsErrorLike;
  const name = typeof e.name === "string" ? e.name : "";
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
  if (name === "CredentialsProviderError") return new PlannerConfigError("no AWS credentials for Bedrock were found");
  if (status === undefined) return transportError("bedrock", error, timeoutMs);
  if (BEDROCK_RETRIABLE.has(name) || status === 429 || status >= 500) {
    return new PlannerUnavailableError(`the bedrock planner failed (${name || `HTTP ${status}`})`, { retriable: true });
  }
  if (status === 401 || status === 403) {
    return new PlannerConfigError(`Bedrock refused the credentials or the model access (${name || status})`);
  }
  return new PlannerConfigError(
    `Bedrock refused the request (${name || `HTTP ${status}`}): check ${PLANNER_CONFIG.model}`,
  );
}

/** The Bedrock Runtime SDK, imported with the first request to the LLM (most goals are planned by rules). */
const bedrockSdk = () => import("./bedrock-sdk.js");

/** Amazon Bedrock's Converse API with the function's IAM credentials (`client`, or the one its factory makes). */
export function bedrockProvider(options: {
  client: ClientSource<BedrockRuntimeClient>;
  model: string;
  timeoutMs: number;
}): LlmProvider {
  const loaded = withSdk(bedrockSdk, options.client);
  return {
    name: "bedrock",
    async complete(system, user, signal) {
      const [{ ConverseCommand }, client] = await loaded();
      const timeout = AbortSignal.timeout(options.timeoutMs);
      let out: ConverseCommandOutput;
      try {
        out = await client.send(
          new ConverseCommand({
            modelId: options.model,
            system: [{ text: system }],
            messages: [{ role: "user", content: [{ text: user }] }],
            inferenceConfig: { maxTokens: MAX_TOKENS, temperature: 0 },
          }),
          { abortSignal: signal ? AbortSignal.any([signal, timeout]) : timeout },
        );
      } catch (error) {
        throw bedrockError(error, options.timeoutMs);
      }
      const text = (out.output?.message?.content ?? []).map((block) => block.text ?? "").join("");
      if (!text) {
        throw new PlannerOutputError("the bedrock planner's answer holds no text", [
          { path: "output.message.content", message: `no text block (stop reason: ${out.stopReason ?? "none"})` },
        ]);
      }
      return text;
    },
  };
}

/**
 * The provider the settings name, built on first use (a wrong setting fails planning only, and is read
 * again next time); undefined when no provider is set (rules only).
 */
export function providerFromConfig(config: Config, secrets: Secrets): (() => LlmProvider) | undefined {
  const kind = setting(config, PLANNER_CONFIG.provider);
  if (!kind) return undefined;
  let built: LlmProvider | undefined;
  return () => {
    built ??= build(kind, config, secrets);
    return built;
  };
}

function build(kind: string, config: Config, secrets: Secrets): LlmProvider {
  const model = required(config, PLANNER_CONFIG.model);
  const timeoutMs = timeoutOf(config);
  const url = setting(config, PLANNER_CONFIG.url);
  if (kind === "bedrock") {
    const region = required(config, PLANNER_CONFIG.region);
    const client = async () =>
      new (await bedrockSdk()).BedrockRuntimeClient({ region, ...(url ? { endpoint: url } : {}) });
    return bedrockProvider({ client, model, timeoutMs });
  }
  if (kind === "openai") {
    const baseUrl = url ?? DEFAULT_OPENAI_URL;
    // The API key goes there in every request.
    if (!isSafeEndpoint(baseUrl)) {
      throw new PlannerConfigError(`${PLANNER_CONFIG.url} must be an https URL (or http to 127.0.0.1)`);
    }
    const secretName = setting(config, PLANNER_CONFIG.secret);
    const apiKey = async () => (secretName ? readApiKey(secrets, secretName) : undefined);
    return openAiProvider({ baseUrl, model, apiKey, timeoutMs });
  }
  throw new PlannerConfigError(`${PLANNER_CONFIG.provider} must be bedrock or openai (it is '${kind}')`);
}
