/**
 * The names a Symfony vault is made of, as a snapshot may carry them: the environment (part of
 * every file name, `<env>.decrypt.private.php`), the vault's file names and the secret names.
 * The restore writes files under these names into the operator's directory and renders PHP with
 * the environment in it, so each is held to what Symfony itself writes: one path component of
 * letters, digits, `_`, `-` and `.` (never `.` or `..`, never a `/`, a quote or a line break).
 */
import * as z from "zod";

/** Symfony's secret name rule (AbstractVault::validateName: PCRE `\w` without /u, so ASCII). */
export const SECRET_NAME = /^[A-Za-z0-9_]+$/;

/** An environment: `prod`, `staging_eu`, `prod.v2` (a vault directory's name). */
export const SYMFONY_ENVIRONMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** A file of the vault directory: one path component, not `.`/`..`, no separators or quotes. */
export const VAULT_FILE_NAME = /^(?!\.{1,2}$)[A-Za-z0-9_.][A-Za-z0-9_.@+-]{0,254}$/;

export const symfonyEnvironmentSchema = z
  .string()
  .regex(SYMFONY_ENVIRONMENT, { error: "not a Symfony environment name (letters, digits, _ . -)" });

export const vaultFileNameSchema = z.string().regex(VAULT_FILE_NAME, {
  error: "not a vault file name (one path component of letters, digits, _ . @ + -)",
});
