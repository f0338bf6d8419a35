/**
 * The gateway's framework-free request and reply: what a handler may ask of
 * a request (its owner, parameters, headers, its body as a stored upload)
 * and what it answers. http/express.ts adapts them to Express.
 */
import type { Readable } from 'node:stream';
import type { StoredBlob } from '@voxfleet/storage';

export interface ParsedUpload {
  blob: StoredBlob;
  filename: string;
  fields: Record<string, string>;
}

export interface ApiRequest {
  /** who is calling: the API key's owner id ('' with auth off) */
  owner: string;
  params: Record<string, string>;
  query: Record<string, unknown>;
  header(name: string): string | undefined;
  /** aborted when the client goes away */
  signal: AbortSignal;
  /** the body is multipart/form-data */
  readonly multipart: boolean;
  /** the multipart body: its `file` part streamed into the blob store, the other fields as strings */
  upload(maxBytes: number): Promise<ParsedUpload>;
  /** the raw body streamed into the blob store */
  rawBody(maxBytes: number): Promise<StoredBlob>;
  /** reads and drops the body (so the client reads the answer) */
  discardBody(): Promise<void>;
}

export type ApiReply = { status: number; headers?: Record<string, string> } & (
  | { empty: true }
  | { json: unknown }
  | { text: string; contentType: string }
  | { stream: Readable; contentType: string }
);

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Express-style path with `:param` segments */
  path: string;
  /** `tenant`: an API key is required (checked before the body is read) */
  auth: 'tenant' | 'none';
  handler: (req: ApiRequest) => Promise<ApiReply>;
}

export const json = (body: unknown, status = 200, headers?: Record<string, string>): ApiReply => ({ status, json: body, ...(headers ? { headers } : {}) });
