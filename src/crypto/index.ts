/** The encryption layer: age v1 on node:crypto. */
export { createEncryptStream } from "./encrypt.js";
export { createDecryptStream } from "./decrypt.js";
export { encryptBuffer, decryptBuffer } from "./buffer.js";
export { encryptFile, decryptFile, type FileCryptoOptions, type FileCryptoResult } from "./file.js";
export {
  generateIdentity,
  identityToRecipient,
  isValidRecipient,
  parseIdentityFile,
  parseRecipient,
  parseRecipientsFile,
  readIdentityFile,
  type ParsedRecipient,
} from "./keys.js";
