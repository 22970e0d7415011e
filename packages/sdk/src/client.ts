import type {
  Agent,
  ApiKey,
  AttemptLogReport,
  BulkRedriven,
  ClaimedTask,
  ClaimInput,
  CreatedKey,
  CreateKeyInput,
  CreatePlanInput,
  CreateScheduleInput,
  ExportPage,
  Failure,
  FailureInput,
  Health,
  HeartbeatInput,
  HeartbeatReceipt,
  ImportLinesInput,
  ImportLinesResult,
  Lease,
  ListFailuresQuery,
  ListPlansQuery,
  ListTasksQuery,
  Page,
  PageQuery,
  Plan,
  PlanPreview,
  PlanSummary,
  PreviewScheduleInput,
  Redriven,
  RegisterAgentInput,
  Schedule,
  ScheduleDetail,
  SchedulePreview,
  ScheduleRun,
  SubmitTaskInput,
  SubmitTasksInput,
  SubmittedTasks,
  Task,
  UpdateScheduleInput,
} from "./types.js";

/** The API answered with an error: `{"error": {code, message, details?, requestId}}` and its status. */
export class NexusApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly requestId: string | undefined;

  constructor(status: number, code: string, message: string, options: { details?: unknown; requestId?: string } = {}) {
    super(message);
    this.name = "NexusApiError";
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.requestId = options.requestId;
  }

  /** Worth trying again later: rate limited, or a fault on the server's side. */
  get transient(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

/** The API could not be reached, or did not answer in time. Always worth trying again later. */
export class NexusNetworkError extends Error {
  readonly code = "network_error";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NexusNetworkError";
  }
}

/** Whether an error says a remote task's lease is gone (it expired, was claimed again, or the task ended). */
export const isLeaseLost = (error: unknown): boolean => error instanceof NexusApiError && error.code === "lease_lost";

export interface NexusClientOptions {
  /** Where the API is, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com` or `http://127.0.0.1:3000`. */
  url: string;
  /** An API key (`nxk_…`). */
  key: string;
  /** Per-request timeout (default 30 s; claims add their wait). */
  timeoutMs?: number;
  /** A fetch to use instead of the global one (tests, proxies). */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

const enc = encodeURIComponent;

/** A small typed client for the Nexus API over fetch. Every method throws {@link NexusApiError} or {@link NexusNetworkError}. */
export class NexusClient {
  readonly url: string;
  private readonly key: string;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(options: NexusClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.key = options.key;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  health(): Promise<Health> {
    return this.request("GET", "/v1/health");
  }

  readonly agents = {
    list: (query: PageQuery = {}) => this.request<Page<Agent>>("GET", "/v1/agents", { query: { ...query } }),
    get: (id: string) => this.request<Agent>("GET", `/v1/agents/${enc(id)}`),
    register: (input: RegisterAgentInput) => this.request<Agent>("POST", "/v1/agents", { body: input }),
    deactivate: (id: string) => this.request<Agent>("POST", `/v1/agents/${enc(id)}/deactivate`),
    reactivate: (id: string) => this.request<Agent>("POST", `/v1/agents/${enc(id)}/reactivate`),
    delete: (id: string, options: { force?: boolean } = {}) =>
      this.request<{ id: string; deleted: true; cancelledTasks: number }>("DELETE", `/v1/agents/${enc(id)}`, {
        query: { force: options.force },
      }),
    /** Reports a (remote) agent alive, with its metrics; returns its health. */
    heartbeat: (id: string, heartbeat: HeartbeatInput) =>
      this.request<HeartbeatReceipt>("POST", `/v1/agents/${enc(id)}/heartbeat`, { body: heartbeat }),
  };

  readonly tasks = {
    submit: (input: SubmitTaskInput) => this.request<Task>("POST", "/v1/tasks", { body: input }),
    /** Up to 100 tasks in one request: all are checked first, and one refused refuses them all (nothing queued). */
    submitMany: (tasks: SubmitTaskInput[]) =>
      this.request<SubmittedTasks>("POST", "/v1/tasks/batch", { body: { tasks } satisfies SubmitTasksInput }),
    list: (query: ListTasksQuery = {}) => this.request<Page<Task>>("GET", "/v1/tasks", { query: { ...query } }),
    get: (id: string) => this.request<Task>("GET", `/v1/tasks/${enc(id)}`),
    cancel: (id: string) => this.request<Task>("POST", `/v1/tasks/${enc(id)}/cancel`),
    /** Claims queued tasks of a custom agent (long poll). */
    claim: (agentId: string, input: ClaimInput = {}, options: { signal?: AbortSignal } = {}) =>
      this.request<{ tasks: ClaimedTask[] }>("POST", `/v1/agents/${enc(agentId)}/tasks/claim`, {
        body: input,
        signal: options.signal,
        timeoutMs: this.timeoutMs + (input.waitSeconds ?? 20) * 1000,
      }),
    /** Reports a claimed task's result; a `lease_lost` 409 means the task is no longer this worker's. */
    complete: (id: string, leaseToken: string, result: unknown, logs?: AttemptLogReport) =>
      this.request<Task>("POST", `/v1/tasks/${enc(id)}/complete`, {
        body: { leaseToken, result: result ?? null, ...(logs ? { logs } : {}) },
      }),
    /** Reports a claimed task's failed attempt (with what it logged, kept as the attempt's logs). */
    fail: (id: string, leaseToken: string, error: FailureInput, logs?: AttemptLogReport) =>
      this.request<Task>("POST", `/v1/tasks/${enc(id)}/fail`, {
        body: { leaseToken, error, ...(logs ? { logs } : {}) },
      }),
    /** Renews the lease on a claimed task: it then runs `leaseSeconds` from now. */
    extend: (id: string, leaseToken: string, leaseSeconds?: number) =>
      this.request<Lease>("POST", `/v1/tasks/${enc(id)}/extend`, {
        body: leaseSeconds === undefined ? { leaseToken } : { leaseToken, leaseSeconds },
      }),
  };

  readonly plans = {
    create: (input: CreatePlanInput) => this.request<Plan>("POST", "/v1/plans", { body: { ...input, dryRun: false } }),
    /** Validates (and, for a goal, plans) without storing or running anything. */
    preview: (input: CreatePlanInput) =>
      this.request<PlanPreview>("POST", "/v1/plans", { body: { ...input, dryRun: true } }),
    list: (query: ListPlansQuery = {}) => this.request<Page<PlanSummary>>("GET", "/v1/plans", { query: { ...query } }),
    get: (id: string) => this.request<Plan>("GET", `/v1/plans/${enc(id)}`),
    cancel: (id: string) => this.request<Plan>("POST", `/v1/plans/${enc(id)}/cancel`),
    retry: (id: string) => this.request<Plan>("POST", `/v1/plans/${enc(id)}/retry`),
    approve: (id: string, stepId: string, comment?: string) =>
      this.request<Plan>("POST", `/v1/plans/${enc(id)}/steps/${enc(stepId)}/approve`, {
        body: comment === undefined ? {} : { comment },
      }),
    reject: (id: string, stepId: string, comment?: string) =>
      this.request<Plan>("POST", `/v1/plans/${enc(id)}/steps/${enc(stepId)}/reject`, {
        body: comment === undefined ? {} : { comment },
      }),
  };

  readonly failures = {
    list: (query: ListFailuresQuery = {}) =>
      this.request<Page<Failure>>("GET", "/v1/failures", { query: { ...query } }),
    get: (id: string) => this.request<Failure>("GET", `/v1/failures/${enc(id)}`),
    /** Runs a failed task again as a new task; `params` replaces its params (validated again). */
    redrive: (id: string, options: { params?: unknown } = {}) =>
      this.request<Redriven>("POST", `/v1/failures/${enc(id)}/redrive`, {
        body: "params" in options ? { params: options.params } : {},
      }),
    /** Redrives an agent's open failures, oldest first. */
    redriveAgent: (agentId: string, max?: number) =>
      this.request<BulkRedriven>("POST", "/v1/failures/redrive", {
        body: max === undefined ? { agentId } : { agentId, max },
      }),
  };

  readonly schedules = {
    create: (input: CreateScheduleInput) => this.request<Schedule>("POST", "/v1/schedules", { body: input }),
    list: (query: PageQuery = {}) => this.request<Page<Schedule>>("GET", "/v1/schedules", { query: { ...query } }),
    get: (id: string) => this.request<ScheduleDetail>("GET", `/v1/schedules/${enc(id)}`),
    update: (id: string, changes: UpdateScheduleInput) =>
      this.request<Schedule>("PATCH", `/v1/schedules/${enc(id)}`, { body: changes }),
    delete: (id: string) => this.request<{ id: string; deleted: true }>("DELETE", `/v1/schedules/${enc(id)}`),
    runNow: (id: string) => this.request<ScheduleRun>("POST", `/v1/schedules/${enc(id)}/run-now`),
    /** The expression as it would be stored, and its next runs; creates nothing. */
    preview: (input: PreviewScheduleInput) =>
      this.request<SchedulePreview>("POST", "/v1/schedules/preview", { body: input }),
  };

  readonly keys = {
    create: (input: CreateKeyInput) => this.request<CreatedKey>("POST", "/v1/keys", { body: input }),
    list: (query: PageQuery = {}) => this.request<Page<ApiKey>>("GET", "/v1/keys", { query: { ...query } }),
    get: (id: string) => this.request<ApiKey>("GET", `/v1/keys/${enc(id)}`),
    revoke: (id: string) => this.request<ApiKey>("DELETE", `/v1/keys/${enc(id)}`),
  };

  /** Backups (admin keys): pages of an export as JSON Lines, and lines of a backup file into an empty deployment. */
  readonly backup = {
    /** One page of an export; without a cursor a new export starts. */
    exportPage: async (cursor?: string): Promise<ExportPage> => {
      const { text, headers } = await this.exchange("GET", "/v1/backup/export", { query: { cursor } });
      return { text, nextCursor: headers.get("nexus-next-cursor"), backupId: headers.get("nexus-backup-id") ?? "" };
    },
    importLines: (input: ImportLinesInput) =>
      this.request<ImportLinesResult>("POST", "/v1/backup/import", { body: input, timeoutMs: 5 * 60_000 }),
  };

  /** One API call: JSON in, JSON out, errors as {@link NexusApiError} / {@link NexusNetworkError}. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const { text } = await this.exchange(method, path, options);
    try {
      return (text === "" ? undefined : JSON.parse(text)) as T;
    } catch {
      throw new NexusApiError(200, "bad_response", `not JSON from ${method} ${path}`);
    }
  }

  /** One API call: the answer's text and headers when it succeeded; errors as {@link request}'s. */
  private async exchange(
    method: string,
    path: string,
    options: RequestOptions,
  ): Promise<{ text: string; headers: Headers }> {
    const url = new URL(`${this.url}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, accept: "application/json" };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(url, {
        method,
        headers,
        signal,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
      text = await response.text();
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      const why = timeout.aborted ? "timed out" : ((error as Error).cause as Error | undefined)?.message;
      throw new NexusNetworkError(`cannot reach ${this.url}${why ? `: ${why}` : ""}`, { cause: error });
    }
    if (response.ok) return { text, headers: response.headers };
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      throw new NexusApiError(response.status, "bad_response", `not JSON from ${method} ${path} (${response.status})`);
    }
    const error = (body as { error?: { code?: string; message?: string; details?: unknown; requestId?: string } })
      ?.error;
    throw new NexusApiError(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.message ?? `${method} ${path} answered ${response.status}`,
      {
        ...(error?.details === undefined ? {} : { details: error.details }),
        ...(error?.requestId ? { requestId: error.requestId } : {}),
      },
    );
  }
}
