// `tender check <image...>`: the admission judgement from the command line, as a Pod naming these images would get it.
import type { Config } from '../config/config.js';

/** One image's answer, as printed with --json. */
interface CheckedImage {
  readonly image: string;
  readonly verdict: 'allow' | 'deny' | 'warn';
  readonly reason: string;
  /** registry/repository:tag or @digest, as the node reads the image. */
  readonly canonical?: string;
  readonly upstream?: string;
  readonly repository?: string;
  readonly digest?: string;
  readonly undecided?: true;
}

/**
 * Judges every image (one at a time: a list of images is short, and an upstream is asked once per image) and
 * prints one line each, or one JSON document. Exit status 0 when every image is admitted, 1 when any is refused.
 * admission.mode does not soften it: warn mode admits at the API server, but the image would still be refused.
 */
export async function checkImages(config: Config, images: readonly string[], options: { json: boolean; out: (text: string) => void }): Promise<number> {
  const { openImageCheck } = await import('../main.js'); // not loaded by `tender serve`'s primary
  const checker = await openImageCheck(config);
  const results: CheckedImage[] = [];
  try {
    for (const image of images) {
      const judged = await checker.check(image);
      results.push({
        image,
        verdict: judged.verdict,
        reason: judged.reason,
        ...(judged.image ? { canonical: judged.image.canonical } : {}),
        ...(judged.upstream ? { upstream: judged.upstream, repository: judged.repository } : {}),
        ...(judged.digest ? { digest: judged.digest } : {}),
        ...(judged.undecided ? { undecided: true as const } : {}),
      });
    }
  } finally {
    await checker.close();
  }
  const admitted = results.every((r) => r.verdict !== 'deny');
  if (options.json) options.out(`${JSON.stringify({ admitted, images: results }, null, 2)}\n`);
  else for (const r of results) options.out(`${r.verdict.toUpperCase().padEnd(5)} ${JSON.stringify(r.image)}: ${r.reason}\n`);
  return admitted ? 0 : 1;
}
