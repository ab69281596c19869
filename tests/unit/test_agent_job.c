/* Unit tests for the agent's job runner (job.c) with a scripted stand-in for
 * restic: argument vectors, environment, progress, the 4 KiB line cap,
 * scrubbing, exit 3 → warning, the snapshot follow-up, cancel (SIGINT) and a
 * missing program.  The real restic is exercised by the system tests. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/job.h"
#include "agent/plat.h"
#include "harness.h"

static char dir[] = "/tmp/rm-job-XXXXXX";
static char script[128];
static json_t *events;

static void sink(void *user, json_t *ev, enum job_importance imp)
{
	(void)user;
	json_object_set_new(ev, "imp", json_integer(imp));
	json_array_append_new(events, ev);
}

static const char fake[] =
	"#!/bin/sh\n"
	"echo \"args: $*\" >&2\n"
	"case \"$1\" in\n"
	"backup)\n"
	"  echo \"repo: $RESTIC_REPOSITORY\"\n"
	"  echo '{\"message_type\":\"status\",\"percent_done\":0.5,\"total_files\":2,\"files_done\":1,"
	"\"total_bytes\":10,\"bytes_done\":5}'\n"
	"  head -c 10000 /dev/zero | tr '\\0' 'a'; echo\n"
	"  echo \"the password is $RESTIC_PASSWORD\" >&2\n"
	"  echo '{\"message_type\":\"error\",\"error\":{},\"during\":\"archival\",\"item\":\"/x\"}' >&2\n"
	"  echo '{\"message_type\":\"summary\",\"files_new\":2,\"snapshot_id\":\"abcd1234\"}'\n"
	"  printf 'last line without newline' >&2\n"
	"  exit 3;;\n"
	"unlock)\n"
	"  env | grep -i '^restic_' | sort >&2\n"
	"  exit 0;;\n"
	"snapshots)\n"
	"  echo '[{\"id\":\"0123456789012345678901234567890123456789012345678901234567890123\","
	"\"short_id\":\"01234567\",\"paths\":[\"/x\"]}]'\n"
	"  exit 0;;\n"
	"prune)\n"
	"  trap 'echo got-int; exit 130' INT\n"
	"  echo trap-set\n"
	"  while :; do sleep 0.05; done;;\n"
	"esac\n"
	"echo 'Fatal: unknown' >&2\n"
	"exit 1\n";

static struct job *start(const char *kind, const char *args_json, const char *prog)
{
	struct job_params p;
	struct job_sink s = {sink, NULL};
	struct job *j = NULL;
	json_t *args = json_loads(args_json, 0, NULL);

	memset(&p, 0, sizeof(p));
	p.restic = prog;
	p.cache_dir = dir;
	p.job_id = "0123456789abcdef0123456789abcdef";
	p.kind = kind;
	p.args = args;
	p.actor = "user";
	p.repo.url = "/srv/repo";
	p.repo.password = "s3cret-passw0rd";
	CHECK_EQ_INT(job_start(&p, &s, &j), 0);
	json_decref(args);
	return j;
}

/* Drive the job like the agent's loop does; cancel_on: call job_cancel
 * once an emitted event contains this text. */
static void drive(struct job *j, const char *cancel_on)
{
	int64_t deadline = plat_mono_ms() + 20000;
	bool cancelled = false;

	while (!job_is_done(j) && plat_mono_ms() < deadline) {
		int fds[2];
		struct pollfd pf[2];
		bool rd[2];
		int t = job_next_timeout(j, plat_mono_ms());
		job_fds(j, fds);
		for (int i = 0; i < 2; i++) {
			pf[i].fd = fds[i];
			pf[i].events = POLLIN;
			pf[i].revents = 0;
		}
		poll(pf, 2, t < 0 || t > 50 ? 50 : t);
		rd[0] = pf[0].revents != 0;
		rd[1] = pf[1].revents != 0;
		job_on_readable(j, rd);
		job_tick(j, plat_mono_ms());
		if (cancel_on && !cancelled) {
			char *text = json_dumps(events, 0);
			if (strstr(text, cancel_on)) {
				job_cancel(j, "test");
				cancelled = true;
			}
			free(text);
		}
	}
	CHECK(job_is_done(j));
}

static json_t *find(const char *type, size_t nth)
{
	size_t i;
	json_t *e;
	json_array_foreach (events, i, e)
		if (strcmp(json_string_value(json_object_get(e, "type")), type) == 0 && nth-- == 0)
			return e;
	return NULL;
}

/* All log lines of all job.log events, as one array. */
static json_t *lines(void)
{
	json_t *all = json_array(), *e, *l;
	size_t i, k;
	json_array_foreach (events, i, e)
		if (strcmp(json_string_value(json_object_get(e, "type")), "job.log") == 0)
			json_array_foreach (json_object_get(e, "lines"), k, l)
				json_array_append(all, l);
	return all;
}

static bool has_line(json_t *ls, const char *stream, const char *text)
{
	size_t i;
	json_t *l;
	json_array_foreach (ls, i, l)
		if (strcmp(json_string_value(json_object_get(l, "stream")), stream) == 0 &&
		    strstr(json_string_value(json_object_get(l, "text")), text))
			return true;
	return false;
}

TEST(test_setup)
{
	FILE *f;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(script, sizeof(script), "%s/restic", dir);
	f = fopen(script, "w");
	CHECK(f != NULL);
	fputs(fake, f);
	fclose(f);
	chmod(script, 0700);
}

TEST(test_backup_warning_with_follow_up)
{
	struct job *j;
	json_t *ls, *ev, *l;
	size_t i;
	bool saw_long = false;

	events = json_array();
	j = start("backup", "{\"paths\":[\"/data\",\"-odd\"],\"tags\":[\"t1\"],\"excludes\":[\"*.tmp\"]}", script);
	drive(j, NULL);
	job_free(j);

	ev = find("job.started", 0);
	CHECK(ev && strcmp(json_string_value(json_object_get(ev, "kind")), "backup") == 0);
	ev = find("job.progress", 0);
	CHECK(ev != NULL);
	CHECK(json_number_value(json_object_get(ev, "percent")) > 49.9);
	CHECK_EQ_INT(json_integer_value(json_object_get(ev, "total_files")), 2);
	CHECK_EQ_INT(json_integer_value(json_object_get(ev, "imp")), JOB_EV_PROGRESS);

	ls = lines();
	CHECK(has_line(ls, "stderr", "args: backup --json --tag=t1 --exclude=*.tmp -- /data -odd"));
	CHECK(has_line(ls, "agent", "running: restic backup --json"));
	CHECK(has_line(ls, "stdout", "repo: /srv/repo"));
	CHECK(has_line(ls, "stderr", "the password is ***"));
	{
		char *text = json_dumps(events, 0);
		CHECK(!strstr(text, "s3cret-passw0rd"));
		free(text);
	}
	CHECK(has_line(ls, "stderr", "error during archival: /x"));
	CHECK(has_line(ls, "stderr", "last line without newline"));
	json_array_foreach (ls, i, l) {
		const char *t = json_string_value(json_object_get(l, "text"));
		if (t[0] == 'a' && t[1] == 'a') {
			CHECK_EQ_INT(strlen(t), JOB_LINE_MAX);
			saw_long = true;
		}
	}
	CHECK(saw_long);
	json_decref(ls);

	ev = find("snapshots", 0);
	CHECK(ev && json_array_size(json_object_get(ev, "snapshots")) == 1);
	ev = find("job.finished", 0);
	CHECK(ev != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(ev, "status")), "warning");
	CHECK_EQ_INT(json_integer_value(json_object_get(ev, "exit_code")), 3);
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(ev, "summary"), "snapshot_id")), "abcd1234");
	/* the snapshot list comes before job.finished */
	CHECK(json_array_size(events) > 0 &&
	      strcmp(json_string_value(json_object_get(json_array_get(events, json_array_size(events) - 1), "type")),
		     "job.finished") == 0);
	json_decref(events);
}

TEST(test_failure_reason_is_fatal_line)
{
	struct job *j;
	json_t *ev;

	events = json_array();
	j = start("init", "{}", script);
	drive(j, NULL);
	job_free(j);
	ev = find("job.finished", 0);
	CHECK(ev != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(ev, "status")), "failed");
	CHECK_EQ_STR(json_string_value(json_object_get(ev, "error")), "Fatal: unknown");
	CHECK(find("snapshots", 0) == NULL);
	json_decref(events);
}

TEST(test_cancel_sends_interrupt)
{
	struct job *j;
	json_t *ev, *ls;

	events = json_array();
	j = start("prune", "{}", script);
	drive(j, "trap-set");
	job_free(j);
	ev = find("job.finished", 0);
	CHECK(ev != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(ev, "status")), "cancelled");
	CHECK_EQ_INT(json_integer_value(json_object_get(ev, "exit_code")), 130);
	ls = lines();
	CHECK(has_line(ls, "stdout", "got-int")); /* the interrupt reached restic's stand-in */
	CHECK(has_line(ls, "agent", "cancel requested: test"));
	json_decref(ls);
	json_decref(events);
}

TEST(test_missing_program)
{
	struct job *j;
	json_t *ev;

	events = json_array();
	j = start("init", "{}", "/nonexistent/restic");
	drive(j, NULL);
	job_free(j);
	ev = find("job.finished", 0);
	CHECK(ev != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(ev, "status")), "failed");
	CHECK(json_is_null(json_object_get(ev, "exit_code")));
	CHECK(strstr(json_string_value(json_object_get(ev, "error")), "cannot run restic") != NULL);
	json_decref(events);
	unlink(script);
	rmdir(dir);
}

/* Inherited restic credentials are dropped whatever the case of their
 * names (Windows reads environment names case-insensitively). */
TEST(test_inherited_credentials_dropped)
{
	struct job *j;
	json_t *ls;
	char *text;

	setenv("restic_password_command", "echo evil-cmd", 1);
	setenv("Restic_Repository", "/evil/repo", 1);
	setenv("RESTIC_PASSWORD_FILE", "/evil/file", 1);
	events = json_array();
	j = start("unlock", "{}", script);
	drive(j, NULL);
	job_free(j);
	unsetenv("restic_password_command");
	unsetenv("Restic_Repository");
	unsetenv("RESTIC_PASSWORD_FILE");
	ls = lines();
	CHECK(has_line(ls, "stderr", "RESTIC_REPOSITORY=/srv/repo"));
	text = json_dumps(events, 0);
	CHECK(text && !strstr(text, "evil"));
	free(text);
	json_decref(ls);
	json_decref(events);
}

static const struct harness_case cases[] = {CASE(test_setup), CASE(test_backup_warning_with_follow_up),
					    CASE(test_failure_reason_is_fatal_line), CASE(test_cancel_sends_interrupt),
					    CASE(test_inherited_credentials_dropped), CASE(test_missing_program)};
HARNESS_MAIN(cases)
