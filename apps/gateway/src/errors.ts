/** API errors: every failure the client sees is `{"error":{"code","message"}}` with a matching HTTP status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toBody(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export const notFound = (what = 'job'): ApiError => new ApiError(404, 'not_found', `${what} not found`);
