// The one OCI error table (distribution-spec "Error Codes") and the error type the whole app throws.

export const ociErrors = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 404, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  RANGE_INVALID: { status: 416, message: 'requested range not satisfiable' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  // Not in the spec's table, but the codes distribution itself uses for upstream trouble.
  UNAVAILABLE: { status: 503, message: 'upstream unavailable' },
  UPSTREAM_ERROR: { status: 502, message: 'upstream returned an error' },
  UNKNOWN: { status: 500, message: 'unknown error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type OciErrorCode = keyof typeof ociErrors;

export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, message?: string, options: { detail?: unknown; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(message ?? ociErrors[code].message, { cause: options.cause });
    this.name = 'OciError';
    this.code = code;
    this.status = ociErrors[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** The JSON body the spec prescribes: {"errors":[{code,message,detail}]}. */
  toBody(): string {
    const entry: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return JSON.stringify({ errors: [entry] });
  }
}

export function isOciError(err: unknown): err is OciError {
  return err instanceof OciError;
}

/**
 * One line for a log or an error message: code, message and cause of whatever was thrown, each said once.
 * Wrapped errors usually quote their cause already (`upstream x unreachable: connect ECONNREFUSED …`), and
 * Node's messages name their code (`connect ECONNREFUSED 127.0.0.1:1`): neither is repeated.
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  // Node's connect to every address of a name (autoSelectFamily) fails with an AggregateError without a message.
  const message = err.message || (err instanceof AggregateError ? err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ') : '');
  const prefix = typeof code === 'string' && !message.includes(code) ? `${code} ` : '';
  const cause = err.cause instanceof Error && err.cause.message && !message.includes(err.cause.message) ? `: ${err.cause.message}` : '';
  return `${prefix}${message}${cause}`;
}
