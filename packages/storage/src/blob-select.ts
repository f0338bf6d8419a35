/**
 * The one place a process picks its blob store from configuration
 * (`storage` of @voxfleet/config: VOXFLEET_BLOB_STORE=local|s3). The
 * gateway and the workers both call it, so they always agree on where blobs
 * live as long as they share the same settings.
 */
import { LocalBlobStore, type BlobStore } from './blob.js';
import { S3BlobStore, type S3BlobStoreOptions } from './s3-blob.js';

/** The part of the storage configuration that chooses the store (structurally @voxfleet/config's StorageConfig). */
export interface BlobStoreSettings {
  blobStore: 'local' | 's3';
  blobDir: string;
  s3: S3BlobStoreOptions | null;
}

export function createBlobStore(settings: BlobStoreSettings): BlobStore {
  if (settings.blobStore === 'local') return new LocalBlobStore(settings.blobDir);
  if (!settings.s3) throw new Error('VOXFLEET_BLOB_STORE=s3 needs the S3 settings (VOXFLEET_S3_BUCKET, …)');
  return new S3BlobStore(settings.s3);
}
