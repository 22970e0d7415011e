/**
 * Typed errors with a stable `code` and an HTTP status. The API maps them to responses in one place
 * (`app.onError`); agents throw {@link ActionError} to tell the queue layer whether to retry.
 */
export class NexusError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details?: unknown;

  constructor(code: string, status: number, message: string, options?: { details?: unknown; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = options?.details;
  }

  toJSON() {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export class ValidationError extends NexusError {
  constructor(message: string, details?: unknown) {
    super("validation_error", 400, message, { details });
  }
}

export class NotFoundError extends NexusError {
  constructor(kind: string, id: string) {
    super("not_found", 404, `${kind} '${id}' was not found`, { details: { kind, id } });
  }
}

export class ConflictError extends NexusError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, 409, message, { details });
  }
}

/** Thrown by an agent action. `retriable: false` fails the task at once; otherwise it is retried with backoff. */
export class ActionError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options?: { retriable?: boolean; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = "ActionError";
    this.code = code;
    this.retriable = options?.retriable ?? true;
  }
}

/** A non-retriable action failure (bad input the schema could not catch, a refused operation…). */
export class NonRetriableError extends ActionError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, { retriable: false, cause: options?.cause });
    this.name = "NonRetriableError";
  }
}

export const isConditionalCheckFailed = (error: unknown): boolean =>
  error instanceof Error && error.name === "ConditionalCheckFailedException";
