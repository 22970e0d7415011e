/**
 * How many large request bodies the local API works on at once. In AWS every request runs in a Lambda instance of its
 * own, with its own memory; locally every request shares one process, whose V8 heap `npm run dev` bounds (512 MB). A
 * remote worker's 5 MB result costs some 35 MB of heap while it is parsed, redacted, hashed and stored, so forty of
 * them at once ran that heap out and the whole runtime stopped.
 *
 * A request that declares a body over the API's usual limit (MAX_BODY_BYTES, 256 KB) holds its size against a budget
 * while it is served; over the budget it waits, its body unread, for those before it (first come, first served). One
 * larger than the whole budget is served alone. Smaller requests (every body the API takes but a remote worker's
 * report, task submissions included) never wait.
 */
import { MAX_BODY_BYTES } from "@nexus/api";

/** The default budget: six 5 MB results at once. */
export const DEFAULT_BODY_BUDGET_BYTES = 32 * 1024 * 1024;

export class BodyGate {
  private held = 0;
  private readonly waiting: Array<{ bytes: number; admit: () => void }> = [];

  /**
   * @param budget bytes of large bodies served at once
   * @param largestBody what a request that does not say its size (a chunked body) is counted as: the largest body the
   *   API takes
   */
  constructor(
    private readonly budget: number,
    private readonly largestBody: number,
  ) {}

  /** Bytes of large bodies being served now. */
  get inFlight(): number {
    return this.held;
  }

  /** Requests waiting for their turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `serve` for `request` once its body fits the budget. */
  async run<T>(request: Request, serve: () => Promise<T>): Promise<T> {
    const bytes = this.bytesOf(request);
    if (bytes <= MAX_BODY_BYTES) return serve();
    await this.acquire(bytes);
    try {
      return await serve();
    } finally {
      this.release(bytes);
    }
  }

  /** The body's declared size; a chunked body (no Content-Length) counts as the largest the API takes. */
  private bytesOf(request: Request): number {
    if (request.method === "GET" || request.method === "HEAD") return 0;
    const length = request.headers.get("content-length");
    if (length !== null) return Number(length) || 0;
    return request.headers.has("transfer-encoding") ? this.largestBody : 0;
  }

  private fits(bytes: number) {
    return this.held === 0 || this.held + bytes <= this.budget;
  }

  private acquire(bytes: number): Promise<void> {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.held += bytes;
      return Promise.resolve();
    }
    return new Promise((admit) => this.waiting.push({ bytes, admit }));
  }

  private release(bytes: number) {
    this.held -= bytes;
    for (let next = this.waiting[0]; next && this.fits(next.bytes); next = this.waiting[0]) {
      this.waiting.shift();
      this.held += next.bytes;
      next.admit();
    }
  }
}
