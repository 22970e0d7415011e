import { get, getKey, qs } from "./api.js";

/** One event of the change feed (GET /v1/events). */
export interface FeedEvent {
  id: string;
  cursor: string;
  at: string;
  kind: "task" | "plan" | "agent" | "schedule";
  type: string;
  agentId?: string;
  action?: string;
  taskId?: string;
  planId?: string;
  stepId?: string;
  scheduleId?: string;
  attempt?: number;
  message?: string;
}

type Listener = (events: FeedEvent[]) => void;

/**
 * The live feed: server-sent events where the API can stream (locally), otherwise polling the same feed every two
 * seconds (API Gateway buffers responses). Listeners see the same events either way.
 */
export class Feed {
  private listeners = new Set<Listener>();
  private cursor: string | undefined;
  private stopped = false;
  private controller: AbortController | undefined;
  /** How the feed arrives now (shown in the footer). */
  mode: "connecting" | "stream" | "polling" = "connecting";
  onMode?: (mode: Feed["mode"]) => void;

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(since = new Date(Date.now() - 5 * 60_000).toISOString()) {
    this.stopped = false;
    void this.run(since);
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
  }

  private emit(events: FeedEvent[]) {
    if (events.length === 0) return;
    const last = events.at(-1);
    if (last) this.cursor = last.cursor;
    for (const listener of this.listeners) listener(events);
  }

  private setMode(mode: Feed["mode"]) {
    this.mode = mode;
    this.onMode?.(mode);
  }

  private async run(start: string) {
    let streamable = true;
    let since = start;
    while (!this.stopped) {
      try {
        if (streamable) {
          // A stream that ends without an event leaves no cursor: the next one starts about where this one did.
          const opened = new Date(Date.now() - 5000).toISOString();
          streamable = await this.stream(since);
          if (!this.cursor) since = opened;
        } else {
          this.setMode("polling");
          const page = await get<{ items: FeedEvent[]; nextCursor: string }>(
            `/v1/events${qs(this.cursor ? { after: this.cursor, limit: 200 } : { since, limit: 200 })}`,
          );
          this.emit(page.items);
          this.cursor = page.nextCursor;
          if (page.items.length < 200) await sleep(2000);
        }
      } catch {
        await sleep(3000);
      }
    }
  }

  /** Reads the stream until it ends; false when this deployment cannot stream. */
  private async stream(since: string): Promise<boolean> {
    this.controller = new AbortController();
    const response = await fetch(`/v1/events/stream${qs(this.cursor ? { after: this.cursor } : { since })}`, {
      headers: { authorization: `Bearer ${getKey() ?? ""}`, accept: "text/event-stream" },
      signal: this.controller.signal,
    });
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
      await response.body?.cancel();
      if (response.status === 401) throw new Error("unauthorized");
      return false;
    }
    this.setMode("stream");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done || this.stopped) return true;
      buffer += value;
      let end = buffer.indexOf("\n\n");
      const batch: FeedEvent[] = [];
      while (end >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = message
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (data) batch.push(JSON.parse(data) as FeedEvent);
        end = buffer.indexOf("\n\n");
      }
      this.emit(batch);
    }
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
