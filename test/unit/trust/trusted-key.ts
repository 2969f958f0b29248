// The TrustedKey of a test signing key, as tender loads it from the key's cosign.pub.
import { parsePublicKey, type TrustedKey } from '../../../src/trust/public-key.js';
import type { SigningKey } from '../../helpers/cosign-keys.js';

export function trusted(key: SigningKey): TrustedKey {
  const load = parsePublicKey(key.publicKeyPem);
  if (!load.ok) throw new Error(load.problem);
  return load.key;
}
