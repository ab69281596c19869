/*
 * plat_win32_service.c — the agent as a Windows service (plat.h:
 * plat_service_control, plat_service_run, plat_dir_restrict's DACL).
 *
 *   restic-manager-agent service install [--config-dir D] [--state-dir D] [--restic P]
 *       CreateServiceW "restic-manager-agent": own process, LocalSystem,
 *       automatic start, command line `"<this exe>" service run <options>`;
 *       failure actions restart after 10 s, 30 s, 60 s (counter reset after
 *       a day), also for a non-crash failure (a non-zero exit).  Re-running
 *       updates the command line.  The config and state directories are
 *       created and given a protected DACL: SYSTEM and Administrators only.
 *   ... service uninstall   stop (if running) and DeleteService
 *   ... service start|stop  StartServiceW / ControlService and wait (30 s)
 *   ... service run         what the SCM starts (StartServiceCtrlDispatcherW)
 *
 * The service main thread runs the agent's normal loop (run()); the SCM's
 * stop and shutdown controls request a stop the same way Ctrl+C does.  A
 * service has no stderr: the log goes to <state>\agent.log (rotated once
 * to agent.log.1 beyond 10 MB at start).  It also has no console, so one
 * is allocated: restic children share it, which lets a cancel reach them
 * as CTRL_BREAK (graceful, lock removed) rather than as a kill.
 * Threads: the dispatcher on the process's main thread, run() on the
 * service thread, the control handler on the dispatcher thread.
 */
#include <windows.h>

#include "agent/plat.h"
#include "agent/plat_win32.h"
#include "common/plat_win32.h"

#include <aclapi.h>
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define SVC_DISPLAY L"restic-manager agent"
#define SVC_DESCRIPTION L"Runs restic backups for the restic-manager server (dials out only)."
#define SVC_WAIT_MS 30000
#define SVC_LOG_ROTATE_BYTES (10 * 1024 * 1024)

static wchar_t svc_name[] = L"restic-manager-agent";
static SERVICE_STATUS_HANDLE svc_handle;
static SERVICE_STATUS svc_status;
static int (*svc_run)(const void *arg);
static const void *svc_arg;
static const char *svc_log;
static int svc_rc;

/* --- protected directories ---------------------------------------------- */

int plat_win32_dir_protect(const char *dir)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL dacl = NULL;
	BOOL present = FALSE, defaulted = FALSE;
	wchar_t *w;
	DWORD e;
	int r = util_mkdir_p(dir, 0700);

	if (r < 0)
		return r;
	/* P: protected (nothing inherited); OICI: files and subdirectories inherit */
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)",
								  SDDL_REVISION_1, &sd, NULL))
		return -plat_win32_errno(GetLastError());
	if (!GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) || !present) {
		LocalFree(sd);
		return -EINVAL;
	}
	w = plat_win32_widen(dir);
	if (!w) {
		LocalFree(sd);
		return -EINVAL;
	}
	e = SetNamedSecurityInfoW(w, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
				  NULL, NULL, dacl, NULL);
	free(w);
	LocalFree(sd);
	return e == ERROR_SUCCESS ? 0 : -plat_win32_errno(e);
}

/* --- the service process ------------------------------------------------- */

static void svc_report(DWORD state, DWORD win32_exit, DWORD specific, DWORD wait_hint)
{
	static DWORD checkpoint = 1;

	svc_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	svc_status.dwCurrentState = state;
	svc_status.dwControlsAccepted = state == SERVICE_START_PENDING ? 0 : SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN;
	svc_status.dwWin32ExitCode = win32_exit;
	svc_status.dwServiceSpecificExitCode = specific;
	svc_status.dwWaitHint = wait_hint;
	svc_status.dwCheckPoint = (state == SERVICE_RUNNING || state == SERVICE_STOPPED) ? 0 : checkpoint++;
	SetServiceStatus(svc_handle, &svc_status);
}

static DWORD WINAPI svc_control(DWORD ctrl, DWORD type, void *data, void *ctx)
{
	(void)type;
	(void)data;
	(void)ctx;
	switch (ctrl) {
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_SHUTDOWN:
		svc_report(SERVICE_STOP_PENDING, NO_ERROR, 0, SVC_WAIT_MS);
		plat_win32_request_stop();
		return NO_ERROR;
	case SERVICE_CONTROL_INTERROGATE:
		return NO_ERROR;
	default:
		return ERROR_CALL_NOT_IMPLEMENTED;
	}
}

/* stderr (fd 2, where log.c writes) → the log file. */
static void svc_redirect_log(const char *path)
{
	char old[PLAT_PATH_MAX];
	wchar_t *w, *wold;
	HANDLE h;
	WIN32_FILE_ATTRIBUTE_DATA fa;
	int fd;

	if (!path || !(w = plat_win32_widen(path)))
		return;
	if (GetFileAttributesExW(w, GetFileExInfoStandard, &fa) && fa.nFileSizeHigh == 0 &&
	    fa.nFileSizeLow > SVC_LOG_ROTATE_BYTES && snprintf(old, sizeof(old), "%s.1", path) < (int)sizeof(old) &&
	    (wold = plat_win32_widen(old)) != NULL) {
		MoveFileExW(w, wold, MOVEFILE_REPLACE_EXISTING);
		free(wold);
	} else if (GetFileAttributesExW(w, GetFileExInfoStandard, &fa) && fa.nFileSizeHigh > 0) {
		DeleteFileW(w);
	}
	h = CreateFileW(w, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
			FILE_ATTRIBUTE_NORMAL, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE)
		return;
	fd = _open_osfhandle((intptr_t)h, _O_APPEND | _O_BINARY);
	if (fd < 0) {
		CloseHandle(h);
		return;
	}
	_dup2(fd, 2);
	SetStdHandle(STD_ERROR_HANDLE, h);
}

static void WINAPI svc_main(DWORD argc, LPWSTR *argv)
{
	(void)argc;
	(void)argv;
	svc_handle = RegisterServiceCtrlHandlerExW(svc_name, svc_control, NULL);
	if (!svc_handle)
		return;
	svc_report(SERVICE_START_PENDING, NO_ERROR, 0, 10000);
	svc_redirect_log(svc_log);
	AllocConsole(); /* shared with restic children: CTRL_BREAK reaches them */
	svc_report(SERVICE_RUNNING, NO_ERROR, 0, 0);
	svc_rc = svc_run(svc_arg);
	/* a non-zero result is a failure: the SCM's restart actions apply */
	svc_report(SERVICE_STOPPED, svc_rc ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR, (DWORD)svc_rc, 0);
}

int plat_service_run(const char *log_path, int (*run)(const void *arg), const void *arg)
{
	SERVICE_TABLE_ENTRYW table[] = {{svc_name, svc_main}, {NULL, NULL}};

	svc_run = run;
	svc_arg = arg;
	svc_log = log_path;
	if (!StartServiceCtrlDispatcherW(table)) {
		DWORD e = GetLastError();
		return e == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT ? -ENOTSUP : -plat_win32_errno(e);
	}
	return svc_rc;
}

/* --- install / uninstall / start / stop ------------------------------------ */

/* The value of option name in a NULL-terminated argv ("--x V" or "--x=V"). */
static const char *opt_value(const char *const *args, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; args && args[i]; i++) {
		if (strcmp(args[i], name) == 0 && args[i + 1])
			return args[i + 1];
		if (strncmp(args[i], name, nl) == 0 && args[i][nl] == '=')
			return args[i] + nl + 1;
	}
	return NULL;
}

static int wait_state(SC_HANDLE s, DWORD want)
{
	SERVICE_STATUS st;
	ULONGLONG deadline = GetTickCount64() + SVC_WAIT_MS;

	for (;;) {
		if (!QueryServiceStatus(s, &st))
			return -plat_win32_errno(GetLastError());
		if (st.dwCurrentState == want)
			return 0;
		if (want == SERVICE_RUNNING && st.dwCurrentState == SERVICE_STOPPED)
			return -EIO; /* it started and stopped again: see its log */
		if (GetTickCount64() >= deadline)
			return -ETIMEDOUT;
		Sleep(200); /* the SCM offers no wait-for-state call */
	}
}

static int svc_install(SC_HANDLE scm, const char *const *run_args, char *msg, size_t cap)
{
	const char *argv[64];
	wchar_t exe[PLAT_PATH_MAX / 2], *wcmd = NULL;
	char *exe8 = NULL, *cmd = NULL;
	SC_HANDLE s = NULL;
	SC_ACTION act[3] = {{SC_ACTION_RESTART, 10000}, {SC_ACTION_RESTART, 30000}, {SC_ACTION_RESTART, 60000}};
	SERVICE_FAILURE_ACTIONSW fa;
	SERVICE_FAILURE_ACTIONS_FLAG ff;
	SERVICE_DESCRIPTIONW desc;
	static wchar_t desc_text[] = SVC_DESCRIPTION;
	const char *cdir, *sdir;
	bool updated = false;
	size_t n = 0;
	DWORD len;
	int r;

	len = GetModuleFileNameW(NULL, exe, (DWORD)(sizeof(exe) / sizeof(exe[0])));
	if (len == 0 || len >= sizeof(exe) / sizeof(exe[0]))
		return -ENAMETOOLONG;
	exe8 = plat_win32_narrow(exe);
	if (!exe8)
		return -ENOMEM;
	argv[n++] = exe8;
	argv[n++] = "service";
	argv[n++] = "run";
	for (size_t i = 0; run_args && run_args[i] && n < ARRAY_LEN(argv) - 1; i++)
		argv[n++] = run_args[i];
	argv[n] = NULL;
	cmd = plat_win32_cmdline(argv);
	wcmd = cmd ? plat_win32_widen(cmd) : NULL;
	if (!wcmd) {
		r = -ENOMEM;
		goto out;
	}
	s = CreateServiceW(scm, svc_name, SVC_DISPLAY, SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
			   SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, wcmd, NULL, NULL, NULL, NULL, NULL);
	if (!s && GetLastError() == ERROR_SERVICE_EXISTS) {
		s = OpenServiceW(scm, svc_name, SERVICE_ALL_ACCESS);
		if (s && !ChangeServiceConfigW(s, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
					       wcmd, NULL, NULL, NULL, NULL, NULL, SVC_DISPLAY)) {
			r = -plat_win32_errno(GetLastError());
			goto out;
		}
		updated = true;
	}
	if (!s) {
		r = -plat_win32_errno(GetLastError());
		goto out;
	}
	desc.lpDescription = desc_text;
	ChangeServiceConfig2W(s, SERVICE_CONFIG_DESCRIPTION, &desc);
	memset(&fa, 0, sizeof(fa));
	fa.dwResetPeriod = 86400;
	fa.cActions = 3;
	fa.lpsaActions = act;
	if (!ChangeServiceConfig2W(s, SERVICE_CONFIG_FAILURE_ACTIONS, &fa)) {
		r = -plat_win32_errno(GetLastError());
		goto out;
	}
	ff.fFailureActionsOnNonCrashFailures = TRUE;
	ChangeServiceConfig2W(s, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &ff); /* Vista+; best effort */
	cdir = opt_value(run_args, "--config-dir");
	sdir = opt_value(run_args, "--state-dir");
	if (!cdir)
		cdir = plat_default_config_dir();
	if (!sdir)
		sdir = plat_default_state_dir();
	r = plat_win32_dir_protect(cdir);
	if (r == 0 && strcmp(cdir, sdir) != 0)
		r = plat_win32_dir_protect(sdir);
	if (r < 0) {
		snprintf(msg, cap, "service %s, but cannot restrict '%s' / '%s' to SYSTEM and Administrators: %s",
			 updated ? "updated" : "installed", cdir, sdir, strerror(-r));
		goto out;
	}
	snprintf(msg, cap, "service restic-manager-agent %s (automatic start, restart on failure): %s",
		 updated ? "updated" : "installed", cmd);
	r = 0;
out:
	if (s)
		CloseServiceHandle(s);
	free(exe8);
	free(cmd);
	free(wcmd);
	return r;
}

int plat_service_control(const char *verb, const char *const *run_args, char *msg, size_t cap)
{
	SC_HANDLE scm, s = NULL;
	SERVICE_STATUS st;
	int r = 0;

	msg[0] = '\0';
	scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE);
	if (!scm) {
		r = -plat_win32_errno(GetLastError());
		snprintf(msg, cap, "cannot open the service manager: %s%s", strerror(-r),
			 r == -EACCES ? " (run as Administrator)" : "");
		return r;
	}
	if (strcmp(verb, "install") == 0) {
		r = svc_install(scm, run_args, msg, cap);
		if (r < 0 && !msg[0])
			snprintf(msg, cap, "cannot install the service: %s", strerror(-r));
		goto out;
	}
	s = OpenServiceW(scm, svc_name, SERVICE_START | SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
	if (!s) {
		r = -plat_win32_errno(GetLastError());
		snprintf(msg, cap, "cannot open the service: %s", r == -ENOENT ? "not installed" : strerror(-r));
		goto out;
	}
	if (strcmp(verb, "start") == 0) {
		if (!StartServiceW(s, 0, NULL) && GetLastError() != ERROR_SERVICE_ALREADY_RUNNING)
			r = -plat_win32_errno(GetLastError());
		else
			r = wait_state(s, SERVICE_RUNNING);
		if (r == 0)
			snprintf(msg, cap, "service started");
		else
			snprintf(msg, cap, "cannot start the service: %s", strerror(-r));
	} else if (strcmp(verb, "stop") == 0 || strcmp(verb, "uninstall") == 0) {
		if (QueryServiceStatus(s, &st) && st.dwCurrentState != SERVICE_STOPPED) {
			if (!ControlService(s, SERVICE_CONTROL_STOP, &st) && GetLastError() != ERROR_SERVICE_NOT_ACTIVE)
				r = -plat_win32_errno(GetLastError());
			else
				r = wait_state(s, SERVICE_STOPPED);
		}
		if (r == 0 && strcmp(verb, "uninstall") == 0) {
			if (!DeleteService(s) && GetLastError() != ERROR_SERVICE_MARKED_FOR_DELETE)
				r = -plat_win32_errno(GetLastError());
			if (r == 0)
				snprintf(msg, cap, "service removed (configuration and state kept)");
			else
				snprintf(msg, cap, "cannot remove the service: %s", strerror(-r));
		} else if (r == 0) {
			snprintf(msg, cap, "service stopped");
		} else {
			snprintf(msg, cap, "cannot stop the service: %s", strerror(-r));
		}
	} else {
		r = -EINVAL;
		snprintf(msg, cap, "unknown service command '%s' (install, uninstall, start, stop)", verb);
	}
out:
	if (s)
		CloseServiceHandle(s);
	CloseServiceHandle(scm);
	return r;
}
