/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/buf.h"
#include "base/encode.h"
#include "cloud/httpsig.h"

int dg_httpsig_sign(EVP_PKEY *key, const char *key_id, const char *method, const char *target,
		    const struct dg_httpsig_header *headers, size_t n, char **ret_authorization,
		    char **ret_signing_string, struct dg_error *err)
{
	struct dg_buf sstr = DG_BUF_INIT, names = DG_BUF_INIT, auth = DG_BUF_INIT;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	EVP_MD_CTX *md = NULL;
	char *sig64 = NULL;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		dg_buf_printf(&names, "%s%s", i ? " " : "", headers[i].name);
		dg_buf_printf(&sstr, "%s%s: ", i ? "\n" : "", headers[i].name);
		if (!strcmp(headers[i].name, "(request-target)")) {
			for (const char *m = method; *m; m++)
				dg_buf_putc(&sstr, (char)tolower((unsigned char)*m));
			dg_buf_printf(&sstr, " %s", target);
		} else {
			dg_buf_puts(&sstr, headers[i].value ? headers[i].value : "");
		}
	}
	if (!dg_buf_ok(&sstr) || !dg_buf_ok(&names)) {
		r = dg_error_set(err, DG_FAILED, "request signing: out of memory");
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)sstr.data, sstr.len) != 1 ||
	    !(sig = malloc(siglen)) ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)sstr.data, sstr.len) != 1 ||
	    !(sig64 = dg_base64(sig, siglen))) {
		r = dg_error_set(err, DG_FAILED, "cannot sign the request with the API key (is it an RSA private "
				 "key?)");
		goto out;
	}
	dg_buf_printf(&auth, "Signature version=\"1\",headers=\"%s\",keyId=\"%s\",algorithm=\"rsa-sha256\","
		      "signature=\"%s\"", dg_buf_str(&names), key_id, sig64);
	if (!dg_buf_ok(&auth)) {
		r = dg_error_set(err, DG_FAILED, "request signing: out of memory");
		goto out;
	}
	*ret_authorization = dg_buf_steal(&auth);
	if (ret_signing_string)
		*ret_signing_string = dg_buf_steal(&sstr);
out:
	EVP_MD_CTX_free(md);
	free(sig);
	free(sig64);
	dg_buf_free(&sstr);
	dg_buf_free(&names);
	dg_buf_free(&auth);
	return r;
}
