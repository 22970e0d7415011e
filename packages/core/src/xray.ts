/**
 * X-Ray tracing of a Lambda function, written for what Nexus records (a few kilobytes where Powertools Tracer with the
 * X-Ray SDK loads some 130 KB at every cold start): a subsegment per invocation, per AWS SDK call of every client it
 * is given, per outgoing HTTP request (fetch and node:http), and per span (`inSpan`, trace.ts), each sent to the X-Ray
 * daemon over UDP when it closes, as the X-Ray SDK sends them in Lambda.
 *
 * Lambda's own segment of the invocation is the root (the trace header Lambda hands the function: `Root`, `Parent`,
 * `Sampled`, see trace.ts); each subsegment is a document of its own (`type: "subsegment"`, its `parent_id` and
 * `trace_id`), in the format of the X-Ray segment documents. Nothing is sent for an invocation that is not sampled.
 * Enabled as Powertools enables its tracer: in Lambda (`AWS_EXECUTION_ENV`), not in SAM or Amplify's mock, unless
 * `POWERTOOLS_TRACE_ENABLED=false`; outgoing HTTP requests are captured unless
 * `POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS=false`.
 */

import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { subscribe } from "node:diagnostics_channel";
import { AsyncSlot } from "./async-slot.js";
import { traceHeader, tracePropagated } from "./trace.js";

/** Whether tracing is on in this process (the environment of an actively traced Lambda function). */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.POWERTOOLS_TRACE_ENABLED ?? "").toLowerCase() === "false") return false;
  const executionEnv = env.AWS_EXECUTION_ENV ?? "";
  return executionEnv !== "" && executionEnv !== "AWS_Lambda_amplify-mock" && !env.AWS_SAM_LOCAL;
}

/** The invocation's trace: Lambda's trace header read apart. */
interface Trace {
  traceId: string;
  /** Lambda's segment of the invocation. */
  parentId: string;
  sampled: boolean;
}

function currentTrace(): Trace | undefined {
  const header = traceHeader();
  if (!header) return undefined;
  const fields = new Map(header.split(";").map((field) => field.split("=", 2) as [string, string]));
  const traceId = fields.get("Root");
  const parentId = fields.get("Parent");
  if (!traceId || !parentId || !/^[0-9a-f]{16}$/.test(parentId)) return undefined;
  return { traceId, parentId, sampled: fields.get("Sampled") !== "0" };
}

/** `host:port`, or `udp:host:port tcp:host:port` in either order (the daemon's address as Lambda sets it). */
export function daemonAddress(value = process.env.AWS_XRAY_DAEMON_ADDRESS): { host: string; port: number } {
  const udp = value?.split(/\s+/).find((part) => part.startsWith("udp:")) ?? value?.split(/\s+/)[0];
  const match = udp ? /^(?:udp:)?([^:\s]+):(\d+)$/.exec(udp) : null;
  return match ? { host: match[1] as string, port: Number(match[2]) } : { host: "127.0.0.1", port: 2000 };
}

let socket: Socket | undefined;

function send(document: Record<string, unknown>) {
  const { host, port } = daemonAddress();
  if (!socket) {
    socket = createSocket("udp4");
    socket.unref();
    // A daemon that is not there loses a trace, never the invocation.
    socket.on("error", () => {});
  }
  socket.send(`{"format":"json","version":1}\n${JSON.stringify(document)}`, port, host, () => {});
}

const newId = () => randomBytes(8).toString("hex");
const now = () => Date.now() / 1000;

/** An X-Ray subsegment, sent to the daemon when it closes. */
export class Subsegment {
  readonly id = newId();
  private readonly startTime = now();
  private closed = false;
  private readonly fields: Record<string, unknown> = {};
  private readonly annotations: Record<string, string | number | boolean> = {};

  constructor(
    readonly name: string,
    readonly trace: Trace,
    private readonly parentId: string,
  ) {}

  /** A subsegment of this one. */
  child(name: string): Subsegment {
    return new Subsegment(name, this.trace, this.id);
  }

  /** The header that carries the trace on to a call this subsegment records. */
  header(): string {
    return `Root=${this.trace.traceId};Parent=${this.id};Sampled=${this.trace.sampled ? "1" : "0"}`;
  }

  annotate(key: string, value: string | number | boolean) {
    this.annotations[key] = value;
  }

  set(field: "namespace" | "aws" | "http", value: unknown) {
    this.fields[field] = value;
  }

  /** Flags by HTTP status: 429 throttled (and an error), other 4xx an error, 5xx a fault. */
  status(status: number | undefined) {
    if (status === undefined) return;
    if (status === 429) this.fields.throttle = true;
    if (status >= 400 && status < 500) this.fields.error = true;
    else if (status >= 500) this.fields.fault = true;
  }

  /** Records `error` (a fault; an error where the other side answered with one, `remote`). */
  addError(error: unknown, remote = false) {
    this.fields[remote ? "error" : "fault"] = true;
    const e = error instanceof Error ? error : new Error(String(error));
    this.fields.cause = {
      working_directory: process.cwd(),
      exceptions: [{ id: newId(), message: e.message, type: e.name, ...(remote ? { remote: true } : {}) }],
    };
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (!this.trace.sampled) return;
    send({
      name: this.name,
      id: this.id,
      start_time: this.startTime,
      end_time: now(),
      type: "subsegment",
      parent_id: this.parentId,
      trace_id: this.trace.traceId,
      ...(Object.keys(this.annotations).length > 0 ? { annotations: this.annotations } : {}),
      ...this.fields,
    });
  }
}

/** The subsegment calls made now are recorded under (the invocation's handler subsegment). */
const current = new AsyncSlot<Subsegment>();

/**
 * Runs `fn` in a new subsegment of Lambda's segment of the invocation (`## <name>`), the subsegment of every AWS SDK
 * call and HTTP request it makes; just `fn` where the invocation has no trace.
 */
export async function traceInvocation<T>(
  name: string,
  annotations: Record<string, string | number | boolean>,
  fn: () => Promise<T>,
): Promise<T> {
  const trace = currentTrace();
  if (!trace) return fn();
  const subsegment = new Subsegment(name, trace, trace.parentId);
  for (const [key, value] of Object.entries(annotations)) subsegment.annotate(key, value);
  try {
    return await current.run(subsegment, fn);
  } catch (error) {
    subsegment.addError(error);
    throw error;
  } finally {
    subsegment.close();
  }
}

/** Runs `fn` as a subsegment of the current one (`## <name>`), annotated; just `fn` outside a traced invocation. */
export async function traceSpan<T>(
  name: string,
  annotations: Record<string, string | number>,
  fn: () => Promise<T>,
): Promise<T> {
  const parent = current.getStore();
  if (!parent) return fn();
  const subsegment = parent.child(`## ${name}`);
  for (const [key, value] of Object.entries(annotations)) subsegment.annotate(key, value);
  try {
    return await fn();
  } catch (error) {
    subsegment.addError(error);
    throw error;
  } finally {
    subsegment.close();
  }
}

/** What this module reads of an AWS SDK v3 client. */
interface SdkClient {
  config: { region?: unknown };
  middlewareStack: {
    remove(name: string): unknown;
    add(
      middleware: (
        next: (args: SdkArgs) => Promise<SdkOutput>,
        context: { clientName?: string; commandName?: string },
      ) => (args: SdkArgs) => Promise<SdkOutput>,
      options: { name: string; step: "build" },
    ): void;
  };
}
interface SdkArgs {
  input?: { TableName?: unknown; QueueUrl?: unknown };
  request?: { headers?: Record<string, string> };
}
interface SdkOutput {
  output?: { $metadata?: SdkMetadata };
  response?: { headers?: Record<string, string> };
}
interface SdkMetadata {
  requestId?: string;
  extendedRequestId?: string;
  httpStatusCode?: number;
  attempts?: number;
}

const MIDDLEWARE = "NexusXRay";

async function regionOf(client: SdkClient): Promise<string | undefined> {
  const { region } = client.config;
  const value = typeof region === "function" ? await (region as () => Promise<unknown>)() : region;
  return typeof value === "string" ? value : undefined;
}

/**
 * Records each call of `client` as a subsegment of the current one, named by its service as X-Ray names AWS calls
 * (`DynamoDB`, `SQS`, `SecretsManager`), its operation, region, request id and status kept, the trace header passed
 * on with the request. Calling it again does not record twice.
 */
export function captureClient<T extends object>(client: T): T {
  const sdk = client as unknown as SdkClient;
  if (!sdk.middlewareStack) return client;
  sdk.middlewareStack.remove(MIDDLEWARE);
  sdk.middlewareStack.add(
    (next, context) => async (args) => {
      const parent = current.getStore();
      if (!parent) return next(args);
      const service = (context.clientName ?? "AWS").replace(/Client$/, "");
      const command = (context.commandName ?? "").replace(/Command$/, "");
      const subsegment = parent.child(service);
      subsegment.set("namespace", "aws");
      if (args.request?.headers) args.request.headers["X-Amzn-Trace-Id"] = subsegment.header();
      const record = async (metadata: SdkMetadata | undefined) => {
        subsegment.set("aws", {
          operation: command.charAt(0).toUpperCase() + command.slice(1),
          region: await regionOf(sdk),
          request_id: metadata?.requestId,
          table_name: typeof args.input?.TableName === "string" ? args.input.TableName : undefined,
          queue_url: typeof args.input?.QueueUrl === "string" ? args.input.QueueUrl : undefined,
          id_2: metadata?.extendedRequestId,
          retries: metadata?.attempts === undefined ? undefined : metadata.attempts - 1,
        });
        subsegment.set("http", metadata?.httpStatusCode ? { response: { status: metadata.httpStatusCode } } : {});
        subsegment.status(metadata?.httpStatusCode);
      };
      try {
        const result = await next(args);
        await record(result.output?.$metadata);
        return result;
      } catch (error) {
        const metadata = (error as { $metadata?: SdkMetadata }).$metadata;
        await record(metadata);
        if (!metadata?.httpStatusCode) subsegment.addError(error);
        else subsegment.addError(error, metadata.httpStatusCode < 500);
        throw error;
      } finally {
        subsegment.close();
      }
    },
    { name: MIDDLEWARE, step: "build" },
  );
  return client;
}

/** What this module reads of undici's (fetch's) diagnostics messages. */
interface UndiciRequest {
  origin: string;
  path: string;
  method: string;
  addHeader(name: string, value: string): unknown;
}

/** What this module reads of node:http's diagnostics messages. */
interface HttpRequest {
  method: string;
  host: string;
  path: string;
  protocol: string;
  getHeader(name: string): unknown;
}

let httpCaptured = false;

/**
 * Records each outgoing HTTP request made in a traced invocation as a subsegment (`namespace: remote`, its URL without
 * query, method and status): fetch's and node:http's (the AWS SDK's own requests left out: their call is recorded by
 * {@link captureClient}). The trace header goes on only with fetch's requests made inside `propagateTrace` (trace.ts):
 * to endpoints of Nexus's operator, never to third parties (where Powertools put it on every request). Nexus's node:http
 * requests are the research agent's, to the web: none carries it.
 */
export function captureHttp() {
  if (httpCaptured) return;
  httpCaptured = true;
  const open = new WeakMap<object, { subsegment: Subsegment; request: { url: string; method: string } }>();
  const start = (request: object, url: URL, method: string) => {
    const parent = current.getStore();
    if (!parent) return undefined;
    const subsegment = parent.child(url.hostname);
    const http = { url: `${url.protocol}//${url.host}${url.pathname}`, method };
    subsegment.set("namespace", "remote");
    subsegment.set("http", { request: http });
    open.set(request, { subsegment, request: http });
    return subsegment;
  };
  const finish = (request: object, status: number | undefined, error?: unknown) => {
    const entry = open.get(request);
    if (!entry) return;
    open.delete(request);
    const { subsegment } = entry;
    if (status !== undefined) {
      subsegment.set("http", { request: entry.request, response: { status } });
      subsegment.status(status);
    }
    if (error !== undefined) subsegment.addError(error, true);
    subsegment.close();
  };

  subscribe("undici:request:create", (message) => {
    const { request } = message as { request: UndiciRequest };
    if (request.method === "CONNECT") return;
    let url: URL;
    try {
      url = new URL(request.path, request.origin);
    } catch {
      return;
    }
    const subsegment = start(request, url, request.method);
    if (subsegment && tracePropagated()) request.addHeader("X-Amzn-Trace-Id", subsegment.header());
  });
  subscribe("undici:request:headers", (message) => {
    const { request, response } = message as { request: object; response: { statusCode: number } };
    finish(request, response.statusCode);
  });
  subscribe("undici:request:error", (message) => {
    const { request, error } = message as { request: object; error: unknown };
    finish(request, undefined, error);
  });

  subscribe("http.client.request.start", (message) => {
    const { request } = message as { request: HttpRequest };
    if (request.getHeader("x-amzn-trace-id") !== undefined) return;
    let url: URL;
    try {
      const host = request.getHeader("host");
      url = new URL(request.path, `${request.protocol}//${typeof host === "string" ? host : request.host}`);
    } catch {
      return;
    }
    start(request, url, request.method);
  });
  subscribe("http.client.response.finish", (message) => {
    const { request, response } = message as { request: object; response: { statusCode?: number } };
    finish(request, response.statusCode);
  });
  subscribe("http.client.request.error", (message) => {
    const { request, error } = message as { request: object; error: unknown };
    finish(request, undefined, error);
  });
}
