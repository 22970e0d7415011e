/**
 * X-Ray trace propagation. A task's trace runs API → queue → agent: the message that carries a task to its agent's
 * queue carries the sender's trace header as its `AWSTraceHeader` system attribute (queues.ts), which is how SQS and
 * Lambda link the agent's invocation to the trace of the request that submitted it.
 *
 * The header is the current invocation's, as Lambda gives it to an actively traced function (its invoke store where
 * the runtime has one, which holds each concurrent invocation's; else `_X_AMZN_TRACE_ID`, set per invocation), unless
 * a tracer installed a source of its own ({@link useTraceHeaderSource}). Locally there is none, and messages go
 * without.
 *
 * Outgoing HTTP requests carry the header only where Nexus calls an endpoint of its own or of its operator
 * ({@link propagateTrace}: the ops agent's checks of allow-listed hosts), so that what it calls can join the trace.
 * Chat webhooks, LLM providers and the web pages the research agent reads are recorded in the trace (xray.ts) but are
 * not handed its id: a trace id is not for third parties.
 */
import { AsyncSlot } from "./async-slot.js";

/** `Root=1-<8 hex>-<24 hex>`, then optional `;Parent=<16 hex>`, `;Sampled=0|1|?`, `;Lineage=…` fields. */
const TRACE_HEADER = /^Root=1-[0-9a-f]{8}-[0-9a-f]{24}(;[A-Za-z]+=[^;\s]{1,256}){0,6}$/;

type Source = () => string | undefined;

/** Lambda's trace header of the current invocation, whatever source {@link traceHeader} reads (the logger's `xray_trace_id`). */
export const lambdaTraceHeader: Source = () =>
  (
    globalThis as { awslambda?: { InvokeStore?: { getXRayTraceId(): string | undefined } } }
  ).awslambda?.InvokeStore?.getXRayTraceId() ?? process.env._X_AMZN_TRACE_ID;
let source: Source = lambdaTraceHeader;

/** The current trace header, or undefined when there is no trace (or what is there is not a trace header). */
export function traceHeader(): string | undefined {
  const header = source();
  return header && header.length <= 1024 && TRACE_HEADER.test(header) ? header : undefined;
}

/** Replaces where the trace header comes from (e.g. a tracer's current segment); returns what puts the old back. */
export function useTraceHeaderSource(next: Source): () => void {
  const previous = source;
  source = next;
  return () => {
    source = previous;
  };
}

const propagating = new AsyncSlot<boolean>();

/** Runs `fn` with the trace header passed on with the HTTP requests it makes (fetch's; see xray.ts `captureHttp`). */
export function propagateTrace<T>(fn: () => Promise<T>): Promise<T> {
  return propagating.run(true, fn);
}

/** Whether HTTP requests made now pass the trace header on (inside {@link propagateTrace}). */
export function tracePropagated(): boolean {
  return propagating.getStore() === true;
}

/** Runs `fn` as a named span annotated with ids (searchable in X-Ray: `annotation.taskId = "…"`). */
export type Spans = <T>(name: string, annotations: Record<string, string | number>, fn: () => Promise<T>) => Promise<T>;

const untraced: Spans = (_name, _annotations, fn) => fn();
let spans: Spans = untraced;

/** A span around `fn` where a tracer is installed (Lambda); just `fn` elsewhere. */
export const inSpan: Spans = (name, annotations, fn) => spans(name, annotations, fn);

/** Installs the tracer's spans; returns what removes them. */
export function useSpans(next: Spans): () => void {
  spans = next;
  return () => {
    spans = untraced;
  };
}

/** The `MessageSystemAttributes` of an SQS message sent now: the trace header, when there is a trace. */
export function traceAttributes() {
  const header = traceHeader();
  return header ? { AWSTraceHeader: { DataType: "String" as const, StringValue: header } } : undefined;
}
