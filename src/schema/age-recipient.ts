/**
 * Recipient check for config files. Validity is decided by src/crypto (the code that will encrypt
 * to the key), so config accepts exactly what encryption accepts, post-quantum age1pq1… included.
 * The wording stays here: it tells an operator what to do, and never echoes a private key.
 */
import { isValidRecipient } from "../crypto/keys.js";

export function isAgeRecipient(text: string): boolean {
  return isValidRecipient(text);
}

/** Why a recipient string is rejected, phrased as what to do; undefined when it is fine. */
export function recipientProblem(text: string): string | undefined {
  if (isValidRecipient(text)) return undefined;
  if (/^AGE-SECRET-KEY-/i.test(text)) {
    return (
      "this is an age PRIVATE key (identity), not a recipient; never put it in config: " +
      "remove it, treat it as exposed, and list its public key (age-keygen -y FILE prints it) instead"
    );
  }
  if (/^(ssh-|ecdsa-)/.test(text)) {
    return "SSH keys are not supported as recipients; use an age recipient (age1…, from age-keygen)";
  }
  if (/^age1/i.test(text)) {
    return `not a valid age recipient: ${JSON.stringify(text)} (bad checksum, length or type; copy it again from age-keygen -y)`;
  }
  return `not an age recipient: ${JSON.stringify(text)}; expected a public key starting with age1 (from age-keygen)`;
}
