/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include <openssl/evp.h>

#include "diagint/error.h"

/* Files that hold secrets (API keys, service-account keys, shared credentials). Like ssh, diagint refuses
 * such a file when its group or others may read or write it, and says how to fix it. */

/* "~/x" and "~" with $HOME; other paths as they are. ret: a new string. */
int dg_path_expand(const char *path, char **ret, struct dg_error *err);

/* Read a secret file whole (at most 1 MiB), after checking its mode. what names it in messages ("the OCI
 * API key (key_file)"). Missing: DG_USAGE naming the path. ret is NUL-terminated; wipe and free it with
 * dg_secret_free(). */
int dg_keyfile_read(const char *path, const char *what, char **ret, size_t *ret_len, struct dg_error *err);
/* The same without the mode check, for files that are not secret (~/.aws/config). */
int dg_file_read(const char *path, const char *what, char **ret, size_t *ret_len, struct dg_error *err);
void dg_secret_free(char *s, size_t len);

/* A PEM private key (PKCS#1, PKCS#8, encrypted or not). An encrypted key needs passphrase: without one, or
 * with the wrong one, DG_USAGE naming what to set (pass_hint: "pass_phrase in the profile"). */
int dg_key_load_pem(const char *pem, size_t len, const char *passphrase, const char *what, const char *pass_hint,
		    EVP_PKEY **ret, struct dg_error *err);
