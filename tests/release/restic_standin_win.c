/*
 * restic_standin_win.c — a recorded-output stand-in for restic 0.14.0 as a
 * Windows console program, built by tests/release/test_windows_agent.py with
 * x86_64-w64-mingw32-gcc and run by the Windows agent under wine (a Linux
 * restic started from a wine process runs, but its output is not captured).
 *
 * It replays restic 0.14's JSON shapes (NOTES: backup status/summary lines,
 * snapshots array, stats) and appends one line per call to %STANDIN_LOG%:
 * the arguments, "args=" with each argument in <> (how the agent's quoting
 * arrived), then "env-ok" when RESTIC_REPOSITORY and RESTIC_PASSWORD were in
 * its environment.  Without STANDIN_LOG (started by the service, whose
 * environment is not the test's) the log is standin.log beside the program.  A backup of a path containing "slow" keeps
 * reporting progress for up to 120 s (the cancel test): a CTRL_BREAK (the
 * agent's graceful stop) is logged as "interrupted" and ends it with 130,
 * as restic does after removing its lock.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

static FILE *logf;

static void log_line(const char *s)
{
	if (logf) {
		fputs(s, logf);
		fputc('\n', logf);
		fflush(logf);
	}
}

static BOOL WINAPI on_ctrl(DWORD ev)
{
	if (ev == CTRL_BREAK_EVENT || ev == CTRL_C_EVENT) {
		log_line("interrupted");
		if (logf)
			fclose(logf);
		ExitProcess(130);
	}
	return FALSE;
}

static void out(const char *s)
{
	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *cmd = NULL, *path = NULL, *lp = getenv("STANDIN_LOG");
	const char *repo = getenv("RESTIC_REPOSITORY"), *pw = getenv("RESTIC_PASSWORD");
	char line[4096];
	size_t n = 0;
	bool after_dashes = false;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (lp) {
		logf = fopen(lp, "ab");
	} else {
		/* no environment of ours (a service): standin.log beside the program */
		char self[MAX_PATH + 16];
		DWORD k = GetModuleFileNameA(NULL, self, MAX_PATH);
		char *slash = k > 0 && k < MAX_PATH ? strrchr(self, '\\') : NULL;
		if (slash) {
			memcpy(slash + 1, "standin.log", 12);
			logf = fopen(self, "ab");
		}
	}
	line[0] = '\0';
	for (int i = 1; i < argc; i++) {
		int k = snprintf(line + n, sizeof(line) - n, "%s%s", i > 1 ? " " : "", argv[i]);
		if (k > 0 && (size_t)k < sizeof(line) - n)
			n += (size_t)k;
		if (after_dashes && !path)
			path = argv[i];
		if (strcmp(argv[i], "--") == 0)
			after_dashes = true;
		else if (!cmd && argv[i][0] != '-')
			cmd = argv[i];
	}
	log_line(line);
	/* each argument in <>, as UTF-8 from the UTF-16 command line: shows how
	 * the agent's quoting (and its UTF-8 → UTF-16 conversion) arrived */
	{
		int wc = 0;
		wchar_t **wv = CommandLineToArgvW(GetCommandLineW(), &wc);
		n = (size_t)snprintf(line, sizeof(line), "args=");
		for (int i = 1; wv && i < wc && n + 3 < sizeof(line); i++) {
			line[n++] = '<';
			int k = WideCharToMultiByte(CP_UTF8, 0, wv[i], -1, line + n, (int)(sizeof(line) - n - 2), NULL, NULL);
			if (k > 0)
				n += (size_t)k - 1;
			line[n++] = '>';
			line[n] = '\0';
		}
		LocalFree(wv);
	}
	log_line(line);
	if (repo && *repo && pw && *pw)
		log_line("env-ok");
	SetConsoleCtrlHandler(on_ctrl, TRUE);
	if (!cmd) {
		fputs("stand-in: no command\n", stderr);
		return 1;
	}
	if (strcmp(cmd, "version") == 0) {
		out("restic 0.14.0 compiled with go1.19.8 on windows/amd64");
	} else if (strcmp(cmd, "init") == 0) {
		printf("created restic repository 5f1e2d3c4b at %s\n", repo ? repo : "?");
	} else if (strcmp(cmd, "backup") == 0) {
		if (!pw || !*pw) {
			fputs("Fatal: no password\n", stderr);
			return 1;
		}
		out("{\"message_type\":\"status\",\"percent_done\":0,\"total_files\":2,\"total_bytes\":12}");
		if (path && strstr(path, "slow")) {
			for (int i = 0; i < 1200; i++) {
				out("{\"message_type\":\"status\",\"percent_done\":0.1,\"total_files\":2,\"files_done\":0,"
				    "\"total_bytes\":12,\"bytes_done\":1}");
				Sleep(100);
			}
		}
		out("{\"message_type\":\"status\",\"percent_done\":0.5,\"total_files\":2,\"files_done\":1,"
		    "\"total_bytes\":12,\"bytes_done\":6,\"current_files\":[\"C:\\\\data\\\\a.txt\"]}");
		out("{\"message_type\":\"summary\",\"files_new\":2,\"files_changed\":0,\"files_unmodified\":0,"
		    "\"dirs_new\":1,\"dirs_changed\":0,\"dirs_unmodified\":0,\"data_blobs\":2,\"tree_blobs\":1,"
		    "\"data_added\":1071,\"total_files_processed\":2,\"total_bytes_processed\":12,"
		    "\"total_duration\":0.21,\"snapshot_id\":\"7e3a9b1c\"}");
	} else if (strcmp(cmd, "snapshots") == 0) {
		out("[{\"time\":\"2026-11-25T21:00:00.123456789Z\",\"tree\":\"aa11\",\"paths\":[\"C:\\\\data\"],"
		    "\"hostname\":\"win-host\",\"username\":\"SYSTEM\",\"tags\":[\"default\"],"
		    "\"id\":\"7e3a9b1c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9\","
		    "\"short_id\":\"7e3a9b1c\"}]");
	} else if (strcmp(cmd, "stats") == 0) {
		out("{\"total_size\":1071,\"total_file_count\":3,\"snapshots_count\":1,\"total_blob_count\":3}");
	} else {
		fprintf(stderr, "stand-in: unsupported command '%s'\n", cmd);
		return 1;
	}
	if (logf)
		fclose(logf);
	return 0;
}
