/*
 * ca_paths.h — where the distribution keeps its CA bundle.
 *
 * The static Linux agents link a libcurl built without a compiled-in CA path
 * (it would only be right for one distribution), so the agent looks for the
 * bundle of whatever distribution it runs on: Debian/Ubuntu, RHEL/Fedora,
 * SUSE and Alpine paths, first readable wins.  --ca-file overrides the search.
 * On Windows the search is never made (those paths would be relative to
 * the current drive, e.g. C:\etc\..., which any local user may create) and
 * the answer is NULL: Schannel uses the system certificate store
 * (CURLOPT_CAINFO must stay unset there).
 * Pure apart from opening files for reading; any thread.
 */
#ifndef RM_AGENT_CA_PATHS_H
#define RM_AGENT_CA_PATHS_H

/* The distribution bundle paths, most common first, NULL-terminated. */
extern const char *const ca_paths_default[];

/* The first entry of candidates (NULL-terminated) that can be opened for
 * reading, or NULL.  Borrows; the answer points into candidates. */
const char *ca_paths_first_readable(const char *const *candidates);

/* ca_file when set (non-NULL, non-empty; not checked here, so a wrong
 * --ca-file fails loudly at the first TLS connection), otherwise the first
 * readable distribution bundle, otherwise NULL (leave the TLS library's own
 * default).  Borrows; the answer is ca_file or a static string. */
const char *ca_paths_find_bundle(const char *ca_file);

#endif
