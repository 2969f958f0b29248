// Stands in for an upstream that must never be contacted (air gap): every question not answered by the
// cache gets a clear "not seeded" error instead of a connection attempt.
import type { Upstream, UpstreamBlob, UpstreamManifest, UpstreamManifestHead, UpstreamPassthrough } from '../cache/ports.js';
import { OciError } from '../oci/errors.js';

export class OfflineUpstream implements Upstream {
  readonly offline = true;
  readonly private: boolean;

  constructor(
    readonly name: string,
    isPrivate: boolean,
  ) {
    this.private = isPrivate;
  }

  async getManifest(repository: string, reference: string): Promise<UpstreamManifest> {
    throw this.missing('MANIFEST_UNKNOWN', repository, reference);
  }

  async headManifest(repository: string, reference: string): Promise<UpstreamManifestHead> {
    throw this.missing('MANIFEST_UNKNOWN', repository, reference);
  }

  async getBlob(repository: string, digest: string): Promise<UpstreamBlob> {
    throw this.missing('BLOB_UNKNOWN', repository, digest);
  }

  async headBlob(repository: string, digest: string): Promise<{ size: number | undefined }> {
    throw this.missing('BLOB_UNKNOWN', repository, digest);
  }

  async listTags(repository: string): Promise<UpstreamPassthrough> {
    throw this.missing('NAME_UNKNOWN', repository, 'tags');
  }

  async referrers(repository: string, digest: string): Promise<UpstreamPassthrough> {
    throw this.missing('MANIFEST_UNKNOWN', repository, `referrers of ${digest}`);
  }

  async close(): Promise<void> {}

  private missing(code: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'NAME_UNKNOWN', repository: string, what: string): OciError {
    return new OciError(code, `the mirror is offline and ${this.name}/${repository} ${what} was not seeded`);
  }
}
