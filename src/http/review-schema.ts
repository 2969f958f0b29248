// The pieces of Kubernetes objects both review formats read, as zod schemas with bounds, and how a refusal names the problem.
import { z } from 'zod';
import type { ContainerKind, ImageUse } from './admission-decision.js';

/**
 * Images judged in one review, over all containers, init and ephemeral containers. Kubernetes sets no limit, but a
 * Pod with hundreds of containers is not a workload: it is a review built to make tender judge without end.
 */
export const maxImagesPerReview = 256;

/** Longest image string read. A reference's repository is at most 255 characters (distribution); with host, tag and digest far less than this. */
export const imageString = z.string().max(4096, { error: 'image longer than 4096 characters' });

/** Namespaces are DNS labels (RFC 1123), as Kubernetes validates them. */
export const namespaceName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'not a namespace name' });

/** Object names: DNS subdomains for most kinds; read for logs and messages only, so only their length is bounded. */
export const objectName = z.string().max(253);

/** Annotations and other string maps. Kubernetes caps all annotations of an object at 256 KiB together. */
export const stringMap = z.record(z.string().max(317), z.string().max(262_144));

const container = z.object({ name: objectName.optional(), image: imageString.optional() });
const containerList = z
  .array(container)
  .max(maxImagesPerReview, { error: `more than ${maxImagesPerReview} containers` })
  .nullish();

/** The part of a PodSpec that names images (core/v1 PodSpec). */
export const podSpec = z.object({ initContainers: containerList, containers: containerList, ephemeralContainers: containerList });

export const objectMeta = z.object({
  name: objectName.nullish(),
  generateName: objectName.nullish(),
  namespace: namespaceName.nullish(),
  annotations: stringMap.nullish(),
});

export type PodSpec = z.infer<typeof podSpec>;
export type ObjectMeta = z.infer<typeof objectMeta>;

/** Every image a Pod spec names, in the order the Pod runs them: init containers, containers, ephemeral containers. */
export function podImages(spec: PodSpec | null | undefined): ImageUse[] {
  if (!spec) return [];
  const uses: ImageUse[] = [];
  const add = (list: PodSpec['containers'], kind: ContainerKind): void => {
    for (const c of list ?? []) if (c.image) uses.push({ image: c.image, kind, container: c.name });
  };
  add(spec.initContainers, 'initContainer');
  add(spec.containers, 'container');
  add(spec.ephemeralContainers, 'ephemeralContainer');
  return uses;
}

/** The name to log and show: the object's name, or its generateName with `*` (a controller's Pod is named by the server after admission). */
export function displayName(meta: ObjectMeta | null | undefined, requestName?: string | null): string | undefined {
  if (requestName) return requestName;
  if (meta?.name) return meta.name;
  if (meta?.generateName) return `${meta.generateName}*`;
  return undefined;
}

/** The first problem zod found, with its path under `root`: `request.object.spec.containers[3].image: ...`. */
export function firstIssue(error: z.ZodError, root = ''): string {
  const issue = error.issues[0];
  let path = root;
  for (const key of issue?.path ?? []) path += typeof key === 'number' ? `[${key}]` : `${path ? '.' : ''}${String(key).slice(0, 100)}`;
  return `${path || '(body)'}: ${issue?.message ?? 'invalid'}`;
}
