/*
 * ca_paths.c — find the distribution's CA bundle for the static agents (see
 * ca_paths.h).  The list is data: adding a distribution is adding a row.
 * Invariant: only opens files read-only, never keeps them open.  Any thread.
 */
#include "agent/ca_paths.h"

#include <stdio.h>
#include <string.h>

#include "agent/plat.h"

const char *const ca_paths_default[] = {
    "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Alpine, Arch, Gentoo */
    "/etc/pki/tls/certs/ca-bundle.crt",                  /* RHEL, CentOS, Fedora, Rocky, Alma */
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL 7+, Fedora (the extracted file) */
    "/etc/ssl/ca-bundle.pem",                            /* openSUSE, SLES */
    "/var/lib/ca-certificates/ca-bundle.pem",            /* SUSE (the generated file) */
    "/etc/ssl/cert.pem",                                 /* Alpine (LibreSSL/OpenSSL layout), Void */
    "/etc/pki/tls/cacert.pem",                           /* older RHEL derivatives */
    NULL,
};

const char *ca_paths_first_readable(const char *const *candidates)
{
	for (size_t i = 0; candidates && candidates[i]; i++) {
		FILE *f = fopen(candidates[i], "rb");
		if (f) {
			fclose(f);
			return candidates[i];
		}
	}
	return NULL;
}

const char *ca_paths_find_bundle(const char *ca_file)
{
	if (ca_file && *ca_file)
		return ca_file;
	/* Never search on Windows: "/etc/ssl/..." there is C:\etc\ssl\..., a
	 * directory any local user may create — a planted bundle would be
	 * trusted by the SYSTEM service.  Schannel uses the system store. */
	if (strcmp(plat_os(), "windows") == 0)
		return NULL;
	return ca_paths_first_readable(ca_paths_default);
}
