/*
 * credential.c — in-memory per-job privileged credentials (see
 * credential.h).  A small fixed table: a host runs one job at a time and
 * only maintenance jobs carry a credential.  Passwords are wiped with
 * plat_memzero() and never logged.  Main thread only.
 */
#include "agent/credential.h"

#include <stdlib.h>
#include <string.h>

#include "agent/plat.h"
#include "common/util.h"

#define CREDENTIAL_SLOTS 16
#define CREDENTIAL_MAX 1024

static struct {
	char job_id[33];
	char *password; /* NULL = free slot */
} slots[CREDENTIAL_SLOTS];

static void slot_wipe(size_t i)
{
	if (slots[i].password) {
		plat_memzero(slots[i].password, strlen(slots[i].password));
		free(slots[i].password);
	}
	slots[i].password = NULL;
	slots[i].job_id[0] = '\0';
}

void credential_take(json_t *cmd)
{
	json_t *cred = json_object_get(cmd, "credential");
	const char *id = json_string_value(json_object_get(cmd, "job_id"));
	const char *pw = json_string_value(json_object_get(cred, "password"));
	size_t free_slot = CREDENTIAL_SLOTS;

	if (!cred)
		return;
	if (id && pw && strlen(id) < sizeof(slots[0].job_id) && strlen(pw) <= CREDENTIAL_MAX) {
		credential_forget(id);
		for (size_t i = 0; i < CREDENTIAL_SLOTS && free_slot == CREDENTIAL_SLOTS; i++)
			if (!slots[i].password)
				free_slot = i;
		if (free_slot == CREDENTIAL_SLOTS) {
			slot_wipe(0); /* the oldest-looking slot; a job then runs with the everyday credential */
			free_slot = 0;
		}
		slots[free_slot].password = strdup(pw);
		if (slots[free_slot].password)
			util_strlcpy(slots[free_slot].job_id, id, sizeof(slots[free_slot].job_id));
	}
	/* The plaintext inside the command object is dropped with it. */
	json_object_del(cmd, "credential");
}

const char *credential_get(const char *job_id)
{
	if (!job_id)
		return NULL;
	for (size_t i = 0; i < CREDENTIAL_SLOTS; i++)
		if (slots[i].password && strcmp(slots[i].job_id, job_id) == 0)
			return slots[i].password;
	return NULL;
}

void credential_forget(const char *job_id)
{
	if (!job_id)
		return;
	for (size_t i = 0; i < CREDENTIAL_SLOTS; i++)
		if (slots[i].password && strcmp(slots[i].job_id, job_id) == 0)
			slot_wipe(i);
}

void credential_forget_all(void)
{
	for (size_t i = 0; i < CREDENTIAL_SLOTS; i++)
		slot_wipe(i);
}
