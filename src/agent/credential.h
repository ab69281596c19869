/*
 * credential.h — privileged repository credentials handed to the agent for
 * one job only (a `run` command's "credential": {"password"}), e.g. prune
 * on an append-only repository.  They live in memory only: taken out of the
 * command before the queue is written to disk, used when that job starts,
 * wiped when it finishes.  After an agent restart the job runs with the
 * everyday credential (and fails if that may not delete).  Main thread only.
 */
#ifndef RM_AGENT_CREDENTIAL_H
#define RM_AGENT_CREDENTIAL_H

#include <jansson.h>

/* Remove "credential" from the run command cmd and keep its password for
 * cmd's job_id (a second one for the same job replaces the first). */
void credential_take(json_t *cmd);
/* The password kept for job_id, or NULL. */
const char *credential_get(const char *job_id);
/* Wipe and drop the password of job_id (if any). */
void credential_forget(const char *job_id);
/* Wipe everything (agent shutdown). */
void credential_forget_all(void);

#endif
