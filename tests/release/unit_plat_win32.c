/*
 * unit_plat_win32.c — unit tests of the Windows platform files (plat_win32*.c,
 * plat_fs_win32.c), built with x86_64-w64-mingw32-gcc and run under wine by
 * tests/release/test_windows_agent.py (the native unit suite cannot include
 * <windows.h>).  argv[1] is a scratch directory (a Windows path).
 *
 * Checks: MSVCRT quoting round-trips through CommandLineToArgvW for awkward
 * arguments; the cmd.exe form; atomic replace over an existing file, the
 * read cap, mkdir -p with drive letters and mixed separators, remove of a
 * missing file; path helpers; LockFileEx refusing a second lock; random
 * bytes; the time-zone rule parses; no CA-bundle search; a child through the socket pumps (output,
 * exit code, -ENOENT for a missing program, a forced stop of a running one).
 */
#include <winsock2.h>

#include <aclapi.h>
#include <errno.h>
#include <sddl.h>
#include <shellapi.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ca_paths.h"
#include "agent/plat.h"
#include "agent/plat_win32.h"
#include "common/plat_win32.h"
#include "common/tz.h"
#include "common/util.h"
#include "../unit/harness.h"

static const char *scratch;

static void roundtrip(const char *const *argv)
{
	char *cmd = plat_win32_cmdline(argv);
	wchar_t *w = cmd ? plat_win32_widen(cmd) : NULL;
	int n = 0;
	wchar_t **back = w ? CommandLineToArgvW(w, &n) : NULL;
	int want = 0;

	while (argv[want])
		want++;
	CHECK(back != NULL);
	CHECK_EQ_INT(n, want);
	for (int i = 0; back && i < n && i < want; i++) {
		char *s = plat_win32_narrow(back[i]);
		CHECK(s && strcmp(s, argv[i]) == 0);
		if (s && strcmp(s, argv[i]) != 0)
			fprintf(stderr, "  arg %d: sent [%s] got [%s] via %s\n", i, argv[i], s, cmd);
		free(s);
	}
	LocalFree(back);
	free(w);
	free(cmd);
}

TEST(test_quoting)
{
	const char *a1[] = {"restic", "backup", "--", "C:\\plain", NULL};
	const char *a2[] = {"restic", "", "a b", "tab\there", "q\"uote", NULL};
	const char *a3[] = {"restic", "C:\\dir with space\\", "C:\\a\\\\b", "\\\\server\\share\\", "x\\\"y", NULL};
	const char *a4[] = {"restic", "\"", "\\", "\\\\\"", "ü ñ 日本", "--exclude=*.tmp", NULL};
	const char *sh[4];
	char *cmd;

	roundtrip(a1);
	roundtrip(a2);
	roundtrip(a3);
	roundtrip(a4);
	plat_shell_argv("echo \"a b\" > x", sh);
	cmd = plat_win32_cmdline(sh);
	CHECK(cmd && strcmp(cmd, "cmd.exe /S /C \"echo \"a b\" > x\"") == 0);
	free(cmd);
}

TEST(test_files)
{
	char dir[PLAT_PATH_MAX], f[PLAT_PATH_MAX], deep[PLAT_PATH_MAX];
	char *buf = NULL;
	size_t len = 0;

	snprintf(dir, sizeof(dir), "%s\\files", scratch);
	snprintf(deep, sizeof(deep), "%s/a\\b/c\\", dir);
	CHECK_EQ_INT(util_mkdir_p(deep, 0700), 0);
	CHECK_EQ_INT(util_mkdir_p(deep, 0700), 0); /* exists: fine */
	CHECK_EQ_INT(plat_path_join(f, sizeof(f), dir, "x.json"), 0);
	CHECK_EQ_INT(util_write_file_atomic(f, "first", 5, 0600), 0);
	CHECK_EQ_INT(util_write_file_atomic(f, "second!", 7, 0600), 0); /* replaces */
	CHECK_EQ_INT(util_read_file(f, 100, &buf, &len), 0);
	CHECK(buf && len == 7 && strcmp(buf, "second!") == 0);
	free(buf);
	buf = NULL;
	CHECK_EQ_INT(util_read_file(f, 3, &buf, &len), -EFBIG);
	CHECK_EQ_INT(plat_append_sync(f, "+tail", 5), 0);
	CHECK_EQ_INT(util_read_file(f, 100, &buf, &len), 0);
	CHECK(buf && strcmp(buf, "second!+tail") == 0);
	free(buf);
	CHECK_EQ_INT(util_remove_file(f), 0);
	CHECK_EQ_INT(util_remove_file(f), 0); /* missing: fine */
	CHECK_EQ_INT(util_read_file(f, 100, &buf, &len), -ENOENT);
	CHECK(plat_path_is_absolute("C:\\x") && plat_path_is_absolute("d:/x") && plat_path_is_absolute("\\\\srv\\s"));
	CHECK(!plat_path_is_absolute("x\\y") && !plat_path_is_absolute("C:x"));
	CHECK_EQ_INT(plat_path_join(f, sizeof(f), "C:\\", "y"), 0);
	CHECK(strcmp(f, "C:\\y") == 0);
}

TEST(test_lock_random_tz)
{
	char dir[PLAT_PATH_MAX], rule[128];
	unsigned char r[32] = {0}, zero[32] = {0};
	struct tz_zone *z = NULL;

	snprintf(dir, sizeof(dir), "%s\\lock", scratch);
	CHECK_EQ_INT(util_mkdir_p(dir, 0700), 0);
	CHECK_EQ_INT(plat_lock_dir(dir), 0);
	CHECK_EQ_INT(plat_lock_dir(dir), -EBUSY);
	CHECK_EQ_INT(plat_random_bytes(r, sizeof(r)), 0);
	CHECK(memcmp(r, zero, sizeof(r)) != 0);
	CHECK_EQ_INT(plat_timezone_rule(rule, sizeof(rule)), 0);
	CHECK_EQ_INT(tz_zone_from_rule(rule, &z), 0);
	tz_zone_free(z);
	CHECK(strcmp(plat_os(), "windows") == 0 && strcmp(plat_arch(), "amd64") == 0);
	CHECK(strcmp(plat_default_config_dir(), plat_default_state_dir()) == 0);
	CHECK(strstr(plat_default_config_dir(), "\\restic-manager") != NULL);
	/* no CA-bundle search on Windows, even where "/etc/ssl/..." resolves (under
	 * wine on Z: it is the Linux file; on Windows C:\etc is user-creatable) */
	CHECK(ca_paths_find_bundle(NULL) == NULL);
	CHECK(ca_paths_find_bundle("C:\\my-ca.pem") != NULL);
}

/* Read both streams to EOF (the pumps close them) and reap. */
static int drain(struct plat_child *c, char *out, size_t cap, int *code)
{
	size_t n = 0;
	DWORD deadline = GetTickCount() + 20000;

	while ((plat_child_fd(c, PLAT_STDOUT) >= 0 || plat_child_fd(c, PLAT_STDERR) >= 0) && GetTickCount() < deadline) {
		char junk[256];
		long k = plat_child_read(c, PLAT_STDOUT, out + n, cap - 1 - n);
		if (k > 0)
			n += (size_t)k;
		k = plat_child_read(c, PLAT_STDERR, junk, sizeof(junk));
		if (k == -EAGAIN)
			Sleep(5); /* a unit test may poll */
	}
	out[n] = '\0';
	while (plat_child_reap(c, code) == -EAGAIN && GetTickCount() < deadline)
		Sleep(5);
	return (int)n;
}

TEST(test_children)
{
	const char *sh[4];
	const char *env[] = {"RM_UNIT=hello from env", NULL};
	const char *missing[] = {"nope", NULL};
	struct plat_child *c = NULL;
	char out[256];
	int code = -1;

	plat_shell_argv("echo %RM_UNIT%& exit 7", sh);
	CHECK_EQ_INT(plat_child_spawn(sh[0], sh, env, &c), 0);
	if (c) {
		CHECK(plat_child_pid(c) > 0);
		drain(c, out, sizeof(out), &code);
		CHECK(strstr(out, "hello from env") != NULL);
		CHECK_EQ_INT(code, 7);
		plat_child_free(c);
		c = NULL;
	}
	/* names are case-insensitive on Windows: the later entry wins (job.c's own values) */
	{
		const char *dup[] = {"Restic_Password=inherited", "ZZ=1", "RESTIC_PASSWORD=ours", "AA=2", NULL};
		plat_shell_argv("echo [%RESTIC_PASSWORD%][%AA%][%ZZ%]", sh);
		CHECK_EQ_INT(plat_child_spawn(sh[0], sh, dup, &c), 0);
		if (c) {
			drain(c, out, sizeof(out), &code);
			CHECK(strstr(out, "[ours][2][1]") != NULL);
			if (!strstr(out, "[ours][2][1]"))
				fprintf(stderr, "  env output: %s\n", out);
			plat_child_free(c);
			c = NULL;
		}
	}
	CHECK_EQ_INT(plat_child_spawn("C:\\does\\not\\exist.exe", missing, env, &c), -ENOENT);
	CHECK_EQ_INT(plat_child_spawn("no-such-program-rm", missing, env, &c), -ENOENT);
	/* a running child (ping waits ~10 s) ends at once on a forced stop */
	plat_shell_argv("ping -n 10 127.0.0.1 >NUL", sh);
	CHECK_EQ_INT(plat_child_spawn(sh[0], sh, env, &c), 0);
	if (c) {
		int64_t pid = plat_child_pid(c);
		DWORD t0 = GetTickCount();
		CHECK(plat_pid_alive(pid));
		CHECK_EQ_INT(plat_child_signal(c, true), 0);
		drain(c, out, sizeof(out), &code);
		CHECK(GetTickCount() - t0 < 8000);
		CHECK_EQ_INT(code, 137);
		plat_child_free(c);
	}
}

/* The protected DACL of service install / enroll, read back as SDDL.
 * Wine does not keep file ACLs (it answers a DACL made up from the unix
 * mode bits), so there the call is exercised but only checked on Windows. */
TEST(test_dir_protect)
{
	bool wine = GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != NULL;
	char dir[PLAT_PATH_MAX];
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL dacl = NULL;
	LPWSTR sddl = NULL;
	wchar_t *w;

	snprintf(dir, sizeof(dir), "%s\\secure\\sub", scratch);
	CHECK_EQ_INT(plat_dir_restrict(dir), 0);
	w = plat_win32_widen(dir);
	CHECK(w && GetNamedSecurityInfoW(w, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL,
					 &sd) == ERROR_SUCCESS);
	if (sd && ConvertSecurityDescriptorToStringSecurityDescriptorW(sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION,
								       &sddl, NULL)) {
		char *s = plat_win32_narrow(sddl);
		printf("dacl%s: %s\n", wine ? " (wine: not kept, not checked)" : "", s ? s : "?");
		/* protected, SYSTEM and Administrators only, inherited by children */
		CHECK(wine || (s && strncmp(s, "D:P", 3) == 0 && strstr(s, ";;;SY)") && strstr(s, ";;;BA)")));
		CHECK(wine || (s && !strstr(s, ";;;WD)") && !strstr(s, ";;;BU)") && !strstr(s, ";;;AU)")));
		free(s);
		LocalFree(sddl);
	} else {
		CHECK(!"no security descriptor");
	}
	LocalFree(sd);
	free(w);
}

static const struct harness_case cases[] = {CASE(test_quoting), CASE(test_files), CASE(test_lock_random_tz),
					     CASE(test_children), CASE(test_dir_protect)};

int main(int argc, char **argv)
{
	scratch = argc > 1 ? argv[1] : ".";
	CHECK_EQ_INT(plat_signals_init(), 0); /* also WSAStartup for the pumps */
	return harness_run("unit_plat_win32", cases, ARRAY_LEN(cases));
}
