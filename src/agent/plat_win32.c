/*
 * plat_win32.c — the Windows implementation of plat.h (the SCM service is
 * in plat_win32_service.c).
 *
 * Children: CreateProcessW with a command line quoted by the MSVCRT rules
 * (what Go's os.Args parsing in restic.exe expects), a UTF-16 environment
 * block built from the UTF-8 envp, stdin on NUL and stdout/stderr on
 * anonymous pipes.  Only those three handles are inherited
 * (PROC_THREAD_ATTRIBUTE_HANDLE_LIST).  The child starts suspended, joins
 * a job object (KILL_ON_JOB_CLOSE: if the agent dies, the whole restic tree
 * goes with it) and is then resumed, so nothing it starts escapes the job.
 * It runs in a new process group so a graceful stop is CTRL_BREAK_EVENT to
 * that group (Go maps it to os.Interrupt: restic removes its lock); when
 * no console is shared the stop falls back to TerminateJobObject.  A forced
 * stop is always TerminateJobObject (the whole tree).
 *
 * Pollable descriptors: curl_multi_poll() waits on sockets only, so each
 * pipe has a pump thread copying it into one end of a loopback TCP pair;
 * plat_child_fd() is the other (non-blocking) end.  The pair is checked
 * to be connected to itself (peer address == our own socket) so no other
 * local process can slip into it.  The stop "signal" (console Ctrl+C,
 * close, shutdown, or an SCM stop) writes one byte into another such pair.
 *
 * Strings are UTF-8 inside the agent and UTF-16 only in the calls here.
 * Threads: everything on the agent's main thread, except the pump threads
 * (which touch only their own pipe and socket) and the console control
 * handler (which only sets a flag and sends one byte).
 */
#include <winsock2.h>
#include <ws2tcpip.h>

#include "agent/plat.h"
#include "agent/plat_win32.h"
#include "common/plat_win32.h"

#include <bcrypt.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#ifndef WSA_FLAG_NO_HANDLE_INHERIT
#define WSA_FLAG_NO_HANDLE_INHERIT 0x80
#endif
#define STATUS_CONTROL_C_EXIT_CODE 0xC000013Au

struct pump {
	HANDLE pipe;   /* read end of the child's pipe (owned by the thread) */
	SOCKET wr;     /* writer end of the loopback pair (owned by the thread) */
	HANDLE thread;
};

struct plat_child {
	HANDLE process, job;
	DWORD pid;
	SOCKET rd[2];
	struct pump pump[2];
	bool reaped;
};

static volatile LONG stop_flag;
static SOCKET wake_rd = INVALID_SOCKET, wake_wr = INVALID_SOCKET;

static int wsa_errno(int e)
{
	switch (e) {
	case WSAEWOULDBLOCK:
		return EAGAIN;
	case WSAENOBUFS:
		return ENOMEM;
	case WSAEMFILE:
		return EMFILE;
	case WSAECONNRESET:
	case WSAECONNABORTED:
		return EPIPE;
	default:
		return EIO;
	}
}

static int wsa_ready(void)
{
	static bool done;
	WSADATA d;

	if (done)
		return 0;
	if (WSAStartup(MAKEWORD(2, 2), &d) != 0)
		return -EIO;
	done = true;
	return 0;
}

/* A connected loopback TCP pair: out[0] the reader (non-blocking), out[1]
 * the writer.  Neither is inheritable. */
static int socket_pair(SOCKET out[2])
{
	struct sockaddr_in sa, local, peer;
	int len = sizeof(sa), r = -EIO;
	SOCKET l, a = INVALID_SOCKET, c = INVALID_SOCKET;
	u_long one = 1;
	int nodelay = 1;

	if (wsa_ready() < 0)
		return -EIO;
	l = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
	if (l == INVALID_SOCKET)
		return -wsa_errno(WSAGetLastError());
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) != 0)
		goto out;
	c = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
	if (c == INVALID_SOCKET || connect(c, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	a = accept(l, NULL, NULL);
	if (a == INVALID_SOCKET)
		goto out;
	/* the accepted peer must be our own connecting socket */
	len = sizeof(local);
	if (getsockname(c, (struct sockaddr *)&local, &len) != 0)
		goto out;
	len = sizeof(peer);
	if (getpeername(a, (struct sockaddr *)&peer, &len) != 0 || peer.sin_port != local.sin_port ||
	    peer.sin_addr.s_addr != local.sin_addr.s_addr)
		goto out;
	SetHandleInformation((HANDLE)a, HANDLE_FLAG_INHERIT, 0);
	SetHandleInformation((HANDLE)c, HANDLE_FLAG_INHERIT, 0);
	if (ioctlsocket(a, FIONBIO, &one) != 0)
		goto out;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, (const char *)&nodelay, sizeof(nodelay));
	out[0] = a;
	out[1] = c;
	a = c = INVALID_SOCKET;
	r = 0;
out:
	if (a != INVALID_SOCKET)
		closesocket(a);
	if (c != INVALID_SOCKET)
		closesocket(c);
	closesocket(l);
	return r;
}

/* --- program lookup and command line ------------------------------------ */

static bool has_dir(const char *f) { return strchr(f, '\\') || strchr(f, '/') || strchr(f, ':'); }

static bool is_file(const wchar_t *w)
{
	DWORD a = GetFileAttributesW(w);
	return a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY);
}

/* Resolve file like CreateProcess would, but up front (so "not found" is
 * -ENOENT): a path is taken as is (or with ".exe" added); a bare name is
 * looked up with SearchPathW (the agent's directory, the system
 * directories, then PATH) with ".exe" as the default extension.
 * OUT: *out (malloc'd UTF-16). */
static int resolve_program(const char *file, wchar_t **out)
{
	wchar_t *w = plat_win32_widen(file), *full = NULL;
	DWORD n;

	if (!w)
		return -EINVAL;
	if (has_dir(file)) {
		size_t l = wcslen(w);
		if (is_file(w)) {
			*out = w;
			return 0;
		}
		full = malloc((l + 5) * sizeof(wchar_t));
		if (!full) {
			free(w);
			return -ENOMEM;
		}
		memcpy(full, w, l * sizeof(wchar_t));
		memcpy(full + l, L".exe", 5 * sizeof(wchar_t));
		free(w);
		if (is_file(full)) {
			*out = full;
			return 0;
		}
		free(full);
		return -ENOENT;
	}
	n = SearchPathW(NULL, w, L".exe", 0, NULL, NULL);
	if (n == 0) {
		free(w);
		return -ENOENT;
	}
	full = malloc((size_t)n * sizeof(wchar_t));
	if (!full || SearchPathW(NULL, w, L".exe", n, full, NULL) == 0 || !is_file(full)) {
		free(full);
		free(w);
		return full ? -ENOENT : -ENOMEM;
	}
	free(w);
	*out = full;
	return 0;
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *np;
		while (b->len + n + 1 > nc)
			nc *= 2;
		np = realloc(b->p, nc);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* One argument quoted by the MSVCRT (CommandLineToArgvW) rules: wrapped in
 * quotes when it is empty or holds a space, tab or quote; a quote is
 * escaped as \" and the backslashes before a quote (or before the closing
 * quote) are doubled. */
static void quote_arg(struct sbuf *b, const char *a)
{
	size_t slashes = 0;

	if (*a && !strpbrk(a, " \t\n\v\"")) {
		sb_add(b, a, strlen(a));
		return;
	}
	sb_add(b, "\"", 1);
	for (const char *p = a; *p; p++) {
		if (*p == '\\') {
			slashes++;
			continue;
		}
		for (size_t i = 0; i < slashes * (*p == '"' ? 2 : 1); i++)
			sb_add(b, "\\", 1);
		slashes = 0;
		if (*p == '"')
			sb_add(b, "\\\"", 2);
		else
			sb_add(b, p, 1);
	}
	for (size_t i = 0; i < slashes * 2; i++)
		sb_add(b, "\\", 1);
	sb_add(b, "\"", 1);
}

/* The command line.  The shell form from plat_shell_argv() ("cmd.exe",
 * "/C", command) is special: cmd.exe does not follow the MSVCRT rules, so
 * the command goes verbatim as `/S /C "command"` (/S: cmd strips exactly
 * the outer quotes and runs the rest as typed). */
char *plat_win32_cmdline(const char *const *argv)
{
	struct sbuf b = {0};

	if (argv[0] && argv[1] && argv[2] && !argv[3] && strcmp(argv[0], "cmd.exe") == 0 &&
	    strcmp(argv[1], "/C") == 0) {
		sb_add(&b, "cmd.exe /S /C \"", 15);
		sb_add(&b, argv[2], strlen(argv[2]));
		sb_add(&b, "\"", 1);
	} else {
		for (size_t i = 0; argv[i]; i++) {
			if (i)
				sb_add(&b, " ", 1);
			quote_arg(&b, argv[i]);
		}
	}
	if (b.oom || !b.p) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

struct env_ent {
	const char *s;
	size_t idx; /* position in envp: the later of two equal names wins */
};

/* Length of the name in "NAME=value" ("=C:=C:\\x" is the name "=C:"). */
static size_t env_name_len(const char *s)
{
	const char *e = strchr(s + (s[0] == '='), '=');
	return e ? (size_t)(e - s) : strlen(s);
}

static int env_name_cmp(const char *a, size_t la, const char *b, size_t lb)
{
	for (size_t i = 0; i < la && i < lb; i++) {
		int x = (unsigned char)a[i], y = (unsigned char)b[i];
		x = (x >= 'a' && x <= 'z') ? x - 32 : x;
		y = (y >= 'a' && y <= 'z') ? y - 32 : y;
		if (x != y)
			return x - y;
	}
	return la == lb ? 0 : la < lb ? -1 : 1;
}

static int env_ent_cmp(const void *pa, const void *pb)
{
	const struct env_ent *a = pa, *b = pb;
	int r = env_name_cmp(a->s, env_name_len(a->s), b->s, env_name_len(b->s));
	return r ? r : (a->idx < b->idx ? -1 : a->idx > b->idx);
}

/* "K=V\0K=V\0\0" in UTF-16 from the NULL-terminated UTF-8 envp, sorted by
 * name case-insensitively as Windows expects.  Names are case-insensitive
 * on Windows, so of two entries with the same name only the later one in
 * envp is kept: the job's own values (RESTIC_PASSWORD…, appended last by
 * job.c) always win over an inherited "Restic_Password". */
static wchar_t *build_env_block(const char *const *envp)
{
	size_t total = 1, n = 0, o = 0;
	struct env_ent *v;
	wchar_t *blk = NULL, *p;

	while (envp[n])
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int k = MultiByteToWideChar(CP_UTF8, 0, envp[i], -1, NULL, 0);
		if (k <= 0)
			goto out;
		total += (size_t)k;
		v[i].s = envp[i];
		v[i].idx = i;
	}
	qsort(v, n, sizeof(*v), env_ent_cmp);
	blk = malloc((total + 1) * sizeof(wchar_t));
	if (!blk)
		goto out;
	p = blk;
	for (size_t i = 0; i < n; i++) {
		int k;
		if (i + 1 < n && env_name_cmp(v[i].s, env_name_len(v[i].s), v[i + 1].s, env_name_len(v[i + 1].s)) == 0)
			continue; /* a later entry of the same name follows */
		k = MultiByteToWideChar(CP_UTF8, 0, v[i].s, -1, p, (int)(total - (size_t)(p - blk)));
		if (k <= 0) {
			free(blk);
			blk = NULL;
			goto out;
		}
		p += k;
		o++;
	}
	*p++ = L'\0';
	if (o == 0)
		*p = L'\0'; /* an empty block is two NULs */
out:
	free(v);
	return blk;
}

/* --- pumps ------------------------------------------------------------- */

static DWORD WINAPI pump_main(void *arg)
{
	struct pump *p = arg;
	char buf[8192];

	for (;;) {
		DWORD n = 0;
		if (!ReadFile(p->pipe, buf, sizeof(buf), &n, NULL))
			break; /* ERROR_BROKEN_PIPE: the child closed it (EOF) */
		for (DWORD off = 0; off < n;) {
			int k = send(p->wr, buf + off, (int)(n - off), 0);
			if (k <= 0)
				goto done; /* reader gone */
			off += (DWORD)k;
		}
	}
done:
	shutdown(p->wr, SD_SEND);
	closesocket(p->wr);
	p->wr = INVALID_SOCKET;
	CloseHandle(p->pipe);
	p->pipe = NULL;
	return 0;
}

static HANDLE new_job(void)
{
	JOBOBJECT_EXTENDED_LIMIT_INFORMATION li;
	HANDLE j = CreateJobObjectW(NULL, NULL);

	if (!j)
		return NULL;
	memset(&li, 0, sizeof(li));
	li.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
	SetInformationJobObject(j, JobObjectExtendedLimitInformation, &li, sizeof(li));
	return j;
}

static int spawn_process(wchar_t *prog, wchar_t *cmdline, wchar_t *env, HANDLE in, HANDLE out, HANDLE err,
			 PROCESS_INFORMATION *pi)
{
	STARTUPINFOEXW si;
	HANDLE inherit[3] = {in, out, err};
	SIZE_T asize = 0;
	LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
	DWORD flags = CREATE_UNICODE_ENVIRONMENT | CREATE_NEW_PROCESS_GROUP | CREATE_SUSPENDED;
	BOOL ok;

	memset(&si, 0, sizeof(si));
	si.StartupInfo.cb = sizeof(si.StartupInfo);
	si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
	si.StartupInfo.hStdInput = in;
	si.StartupInfo.hStdOutput = out;
	si.StartupInfo.hStdError = err;
	/* Inherit only the three handles; without the attribute list (not
	 * available) every inheritable handle would go, and ours are not. */
	InitializeProcThreadAttributeList(NULL, 1, 0, &asize);
	if (asize > 0 && (attrs = malloc(asize)) != NULL) {
		if (InitializeProcThreadAttributeList(attrs, 1, 0, &asize) &&
		    UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherit, sizeof(inherit),
					      NULL, NULL)) {
			si.StartupInfo.cb = sizeof(si);
			si.lpAttributeList = attrs;
			flags |= EXTENDED_STARTUPINFO_PRESENT;
		} else {
			free(attrs);
			attrs = NULL;
		}
	}
	ok = CreateProcessW(prog, cmdline, NULL, NULL, TRUE, flags, env, NULL, &si.StartupInfo, pi);
	if (!ok && attrs) {
		/* some Windows builds reject the list for console handles: retry plainly */
		si.StartupInfo.cb = sizeof(si.StartupInfo);
		ok = CreateProcessW(prog, cmdline, NULL, NULL, TRUE, flags & ~(DWORD)EXTENDED_STARTUPINFO_PRESENT,
				    env, NULL, &si.StartupInfo, pi);
	}
	if (attrs) {
		DeleteProcThreadAttributeList(attrs);
		free(attrs);
	}
	return ok ? 0 : -plat_win32_errno(GetLastError());
}

int plat_child_spawn(const char *file, const char *const *argv, const char *const *envp,
		     struct plat_child **out)
{
	SECURITY_ATTRIBUTES inh = {sizeof(inh), NULL, TRUE};
	HANDLE nul = INVALID_HANDLE_VALUE, prd[2] = {NULL, NULL}, pwr[2] = {NULL, NULL};
	SOCKET pair[2][2] = {{INVALID_SOCKET, INVALID_SOCKET}, {INVALID_SOCKET, INVALID_SOCKET}};
	PROCESS_INFORMATION pi;
	wchar_t *prog = NULL, *wcmd = NULL, *wenv = NULL;
	char *cmd = NULL;
	struct plat_child *c = NULL;
	int r;

	r = resolve_program(file, &prog);
	if (r < 0)
		return r;
	cmd = plat_win32_cmdline(argv);
	wcmd = cmd ? plat_win32_widen(cmd) : NULL;
	wenv = build_env_block(envp);
	c = calloc(1, sizeof(*c));
	if (!wcmd || !wenv || !c) {
		r = -ENOMEM;
		goto fail;
	}
	c->rd[0] = c->rd[1] = INVALID_SOCKET;
	nul = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inh, OPEN_EXISTING, 0, NULL);
	if (nul == INVALID_HANDLE_VALUE) {
		r = -plat_win32_errno(GetLastError());
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		if (!CreatePipe(&prd[i], &pwr[i], &inh, 0)) {
			r = -plat_win32_errno(GetLastError());
			goto fail;
		}
		SetHandleInformation(prd[i], HANDLE_FLAG_INHERIT, 0);
		r = socket_pair(pair[i]);
		if (r < 0)
			goto fail;
	}
	r = spawn_process(prog, wcmd, wenv, nul, pwr[0], pwr[1], &pi);
	if (r < 0)
		goto fail;
	c->job = new_job();
	if (c->job && !AssignProcessToJobObject(c->job, pi.hProcess)) {
		/* no job (e.g. nested jobs unsupported): plain TerminateProcess then */
		CloseHandle(c->job);
		c->job = NULL;
	}
	ResumeThread(pi.hThread);
	CloseHandle(pi.hThread);
	c->process = pi.hProcess;
	c->pid = pi.dwProcessId;
	CloseHandle(nul);
	nul = INVALID_HANDLE_VALUE;
	for (int i = 0; i < 2; i++) {
		CloseHandle(pwr[i]);
		pwr[i] = NULL;
		c->rd[i] = pair[i][0];
		c->pump[i].pipe = prd[i];
		c->pump[i].wr = pair[i][1];
		pair[i][0] = pair[i][1] = INVALID_SOCKET;
		prd[i] = NULL;
		c->pump[i].thread = CreateThread(NULL, 64 * 1024, pump_main, &c->pump[i], 0, NULL);
		if (!c->pump[i].thread) {
			/* no pump: the stream reads as EOF; the child gets a broken pipe */
			closesocket(c->pump[i].wr);
			CloseHandle(c->pump[i].pipe);
			c->pump[i].wr = INVALID_SOCKET;
			c->pump[i].pipe = NULL;
		}
	}
	free(prog);
	free(cmd);
	free(wcmd);
	free(wenv);
	*out = c;
	return 0;
fail:
	if (nul != INVALID_HANDLE_VALUE)
		CloseHandle(nul);
	for (int i = 0; i < 2; i++) {
		if (prd[i])
			CloseHandle(prd[i]);
		if (pwr[i])
			CloseHandle(pwr[i]);
		for (int k = 0; k < 2; k++)
			if (pair[i][k] != INVALID_SOCKET)
				closesocket(pair[i][k]);
	}
	free(c);
	free(prog);
	free(cmd);
	free(wcmd);
	free(wenv);
	return r;
}

int plat_child_fd(const struct plat_child *c, enum plat_stream s)
{
	return c->rd[s] == INVALID_SOCKET ? -1 : (int)c->rd[s];
}

long plat_child_read(struct plat_child *c, enum plat_stream s, char *buf, size_t cap)
{
	int n, e;

	if (c->rd[s] == INVALID_SOCKET)
		return 0;
	n = recv(c->rd[s], buf, cap > INT_MAX ? INT_MAX : (int)cap, 0);
	if (n > 0)
		return n;
	e = n == 0 ? 0 : WSAGetLastError();
	if (e == WSAEWOULDBLOCK)
		return -EAGAIN;
	if (e != 0 && e != WSAECONNRESET && e != WSAECONNABORTED)
		return -wsa_errno(e);
	closesocket(c->rd[s]);
	c->rd[s] = INVALID_SOCKET;
	return 0;
}

int plat_child_signal(struct plat_child *c, bool force)
{
	if (c->reaped)
		return 0;
	if (!force && GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, c->pid))
		return 0;
	/* forced, or no console shared with the child: end the whole tree */
	if (c->job ? TerminateJobObject(c->job, force ? 137 : 130) : TerminateProcess(c->process, force ? 137 : 130))
		return 0;
	return -plat_win32_errno(GetLastError());
}

int plat_child_reap(struct plat_child *c, int *exit_code)
{
	DWORD code = 255;

	if (c->reaped)
		return 0;
	if (WaitForSingleObject(c->process, 0) == WAIT_TIMEOUT)
		return -EAGAIN;
	if (!GetExitCodeProcess(c->process, &code))
		code = 255;
	c->reaped = true;
	if (code == STATUS_CONTROL_C_EXIT_CODE)
		*exit_code = 130; /* as 128+SIGINT */
	else
		*exit_code = code > 255 ? 255 : (int)code;
	return 0;
}

int64_t plat_child_pid(const struct plat_child *c) { return c->reaped ? 0 : (int64_t)c->pid; }

bool plat_pid_alive(int64_t pid)
{
	HANDLE h;
	bool alive;

	if (pid <= 0 || pid > 0xffffffffLL)
		return false;
	h = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
	if (!h)
		return GetLastError() == ERROR_ACCESS_DENIED;
	alive = WaitForSingleObject(h, 0) == WAIT_TIMEOUT;
	CloseHandle(h);
	return alive;
}

void plat_child_free(struct plat_child *c)
{
	bool pumps_done = true;

	if (!c)
		return;
	for (int i = 0; i < 2; i++)
		if (c->rd[i] != INVALID_SOCKET)
			closesocket(c->rd[i]); /* a pump blocked in send() ends */
	if (c->job)
		CloseHandle(c->job); /* KILL_ON_JOB_CLOSE: leftovers holding the pipes end */
	for (int i = 0; i < 2; i++) {
		if (!c->pump[i].thread)
			continue;
		if (WaitForSingleObject(c->pump[i].thread, 2000) == WAIT_TIMEOUT) {
			CancelSynchronousIo(c->pump[i].thread);
			if (WaitForSingleObject(c->pump[i].thread, 2000) == WAIT_TIMEOUT)
				pumps_done = false;
		}
		CloseHandle(c->pump[i].thread);
	}
	if (c->process)
		CloseHandle(c->process);
	/* a pump still running owns memory inside c: leak c rather than free it */
	if (pumps_done)
		free(c);
}

/* --- stop requests ------------------------------------------------------ */

void plat_win32_request_stop(void)
{
	char b = 1;
	InterlockedExchange(&stop_flag, 1);
	if (wake_wr != INVALID_SOCKET)
		send(wake_wr, &b, 1, 0); /* a full buffer means a wake-up is pending */
}

/* Console events (on a thread of their own).  CTRL_BREAK is ignored: it is
 * how the agent stops its own children (a new process group each), never
 * how it is stopped.  CTRL_LOGOFF is ignored: a service (which allocates a
 * console) gets it whenever any user logs off.  After CTRL_CLOSE/SHUTDOWN
 * Windows ends the process as soon as the handler returns, so the handler
 * waits (up to the ~5 s Windows grants) for the loop to stop and exit. */
static BOOL WINAPI on_console_ctrl(DWORD ev)
{
	switch (ev) {
	case CTRL_C_EVENT:
		plat_win32_request_stop();
		return TRUE;
	case CTRL_CLOSE_EVENT:
	case CTRL_SHUTDOWN_EVENT:
		plat_win32_request_stop();
		Sleep(5000); /* the main thread's exit ends the process (and this wait) first */
		return TRUE;
	case CTRL_BREAK_EVENT:
	case CTRL_LOGOFF_EVENT:
		return TRUE;
	default:
		return FALSE;
	}
}

int plat_signals_init(void)
{
	SOCKET p[2];
	int r;

	if (wake_rd == INVALID_SOCKET) {
		r = socket_pair(p);
		if (r < 0)
			return r;
		wake_rd = p[0];
		wake_wr = p[1];
		/* the writer must never block the control handler */
		u_long one = 1;
		ioctlsocket(wake_wr, FIONBIO, &one);
	}
	SetConsoleCtrlHandler(on_console_ctrl, TRUE);
	return 0;
}

bool plat_stop_requested(void) { return InterlockedCompareExchange(&stop_flag, 0, 0) != 0; }

int plat_wake_fd(void) { return wake_rd == INVALID_SOCKET ? -1 : (int)wake_rd; }

void plat_wake_drain(void)
{
	char b[64];
	while (wake_rd != INVALID_SOCKET && recv(wake_rd, b, sizeof(b), 0) > 0) {
	}
}

/* --- files and directories ---------------------------------------------- */

int plat_lock_dir(const char *dir)
{
	char path[PLAT_PATH_MAX];
	wchar_t *w;
	HANDLE h;
	OVERLAPPED ov;

	if (plat_path_join(path, sizeof(path), dir, "agent.lock") < 0)
		return -ENAMETOOLONG;
	w = plat_win32_widen(path);
	if (!w)
		return -EINVAL;
	h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
			FILE_ATTRIBUTE_NORMAL, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE)
		return -plat_win32_errno(GetLastError());
	memset(&ov, 0, sizeof(ov));
	if (!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) {
		DWORD e = GetLastError();
		CloseHandle(h);
		return e == ERROR_LOCK_VIOLATION || e == ERROR_IO_PENDING ? -EBUSY : -plat_win32_errno(e);
	}
	return 0; /* handle intentionally kept open: the lock lives until exit */
}

/* %ProgramData%\restic-manager for both (the file names do not collide). */
static const char *program_data_dir(void)
{
	static char dir[PLAT_PATH_MAX];
	wchar_t w[PLAT_PATH_MAX / 2];
	DWORD n;

	if (dir[0])
		return dir;
	n = GetEnvironmentVariableW(L"ProgramData", w, (DWORD)(sizeof(w) / sizeof(w[0])));
	if (n > 0 && n < sizeof(w) / sizeof(w[0])) {
		char *s = plat_win32_narrow(w);
		if (s && plat_path_join(dir, sizeof(dir), s, "restic-manager") == 0) {
			free(s);
			return dir;
		}
		free(s);
	}
	util_strlcpy(dir, "C:\\ProgramData\\restic-manager", sizeof(dir));
	return dir;
}

const char *plat_default_config_dir(void) { return program_data_dir(); }
const char *plat_default_state_dir(void) { return program_data_dir(); }

int plat_path_join(char *out, size_t cap, const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	bool sep = dl > 0 && (dir[dl - 1] == '\\' || dir[dl - 1] == '/');
	int n = snprintf(out, cap, "%s%s%s", dir, sep ? "" : "\\", name);
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

bool plat_path_is_absolute(const char *path)
{
	if (((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) && path[1] == ':' &&
	    (path[2] == '\\' || path[2] == '/'))
		return true;
	return (path[0] == '\\' && path[1] == '\\') || (path[0] == '/' && path[1] == '/');
}

int plat_append_sync(const char *path, const void *data, size_t len)
{
	wchar_t *w = plat_win32_widen(path);
	const char *p = data;
	HANDLE h;
	int r = 0;

	if (!w)
		return -EINVAL;
	h = CreateFileW(w, FILE_APPEND_DATA, FILE_SHARE_READ, NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE)
		return -plat_win32_errno(GetLastError());
	while (len > 0) {
		DWORD k = 0, want = len > 0x40000000u ? 0x40000000u : (DWORD)len;
		if (!WriteFile(h, p, want, &k, NULL)) {
			r = -plat_win32_errno(GetLastError());
			break;
		}
		p += k;
		len -= k;
	}
	if (r == 0 && !FlushFileBuffers(h))
		r = -plat_win32_errno(GetLastError());
	CloseHandle(h);
	return r;
}

int plat_dir_restrict(const char *dir) { return plat_win32_dir_protect(dir); }

/* --- host facts ---------------------------------------------------------- */

const char *plat_os(void) { return "windows"; }

const char *plat_arch(void)
{
#if defined(__x86_64__) || defined(_M_X64)
	return "amd64";
#elif defined(__aarch64__) || defined(_M_ARM64)
	return "arm64";
#else
	return "unknown";
#endif
}

int plat_hostname(char *out, size_t cap)
{
	wchar_t w[256];
	DWORD n = (DWORD)(sizeof(w) / sizeof(w[0]));
	char *s;
	int r;

	if (!GetComputerNameExW(ComputerNameDnsHostname, w, &n) || n == 0) {
		n = (DWORD)(sizeof(w) / sizeof(w[0]));
		if (!GetComputerNameW(w, &n))
			return -plat_win32_errno(GetLastError());
	}
	s = plat_win32_narrow(w);
	if (!s)
		return -ENOMEM;
	r = util_strlcpy(out, s, cap);
	free(s);
	return r < 0 ? -ENAMETOOLONG : 0;
}

int plat_random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ULONG k = n > 0x10000000u ? 0x10000000u : (ULONG)n;
		if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, p, k, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
			return -EIO;
		p += k;
		n -= k;
	}
	return 0;
}

const char *plat_os_error_text(int64_t code)
{
	static char text[256];
	wchar_t w[256];
	char *s;
	DWORD n;

	if (code <= 0 || code > 0xffffffffLL)
		return "unknown error";
	n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, (DWORD)code, 0, w,
			   (DWORD)(sizeof(w) / sizeof(w[0])), NULL);
	if (n == 0 || !(s = plat_win32_narrow(w)))
		return "unknown error";
	util_strlcpy(text, s, sizeof(text));
	free(s);
	text[strcspn(text, "\r\n")] = '\0';
	for (size_t l = strlen(text); l > 0 && (text[l - 1] == '.' || text[l - 1] == ' '); l--)
		text[l - 1] = '\0';
	return text;
}

void plat_memzero(void *p, size_t n) { SecureZeroMemory(p, n); }

int64_t plat_mono_ms(void) { return (int64_t)GetTickCount64(); }

/* Built once from GetEnvironmentStringsW (the agent never changes its
 * environment after start). */
const char *const *plat_environ(void)
{
	static char **env;
	static char *empty[1];
	wchar_t *blk, *p;
	size_t n = 0, i = 0;

	if (env)
		return (const char *const *)env;
	blk = GetEnvironmentStringsW();
	if (!blk)
		return (const char *const *)empty;
	for (p = blk; *p; p += wcslen(p) + 1)
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env) {
		FreeEnvironmentStringsW(blk);
		return (const char *const *)empty;
	}
	for (p = blk; *p; p += wcslen(p) + 1) {
		char *s = plat_win32_narrow(p);
		if (s)
			env[i++] = s;
	}
	FreeEnvironmentStringsW(blk);
	return (const char *const *)env;
}

void plat_shell_argv(const char *command, const char *out[4])
{
	out[0] = "cmd.exe";
	out[1] = "/C";
	out[2] = command;
	out[3] = NULL;
}

/* --- restore progress (plat.h) ------------------------------------------- */

/* The job object's I/O accounting covers the whole tree (restic and
 * anything it starts); without a job, the process's own counters. */
int plat_child_written_bytes(const struct plat_child *c, int64_t *bytes)
{
	JOBOBJECT_BASIC_AND_IO_ACCOUNTING_INFORMATION ji;
	IO_COUNTERS io;

	if (c->reaped)
		return -ESRCH;
	if (c->job && QueryInformationJobObject(c->job, JobObjectBasicAndIoAccountingInformation, &ji, sizeof(ji),
						NULL)) {
		*bytes = (int64_t)ji.IoInfo.WriteTransferCount;
		return 0;
	}
	if (GetProcessIoCounters(c->process, &io)) {
		*bytes = (int64_t)io.WriteTransferCount;
		return 0;
	}
	return -ENOTSUP;
}

#define TREE_DEPTH_MAX 64
#define FILETIME_UNIX_EPOCH 116444736000000000ULL

static int64_t filetime_unix(FILETIME ft)
{
	unsigned long long v = ((unsigned long long)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
	return v < FILETIME_UNIX_EPOCH ? 0 : (int64_t)((v - FILETIME_UNIX_EPOCH) / 10000000ULL);
}

/* "Status changed" on Windows: created or written at or after since. */
static void tree_count_entry(const WIN32_FIND_DATAW *fd, int64_t since, struct plat_tree_count *out)
{
	int64_t t = filetime_unix(fd->ftCreationTime), w = filetime_unix(fd->ftLastWriteTime);
	if (w > t)
		t = w;
	if (t >= since) {
		out->files++;
		out->bytes += (int64_t)(((unsigned long long)fd->nFileSizeHigh << 32) | fd->nFileSizeLow);
	}
}

static void tree_count_dir(const wchar_t *dir, int64_t since, size_t max, unsigned depth,
			   struct plat_tree_count *out)
{
	size_t dl = wcslen(dir);
	wchar_t *pat = malloc((dl + 3) * sizeof(wchar_t));
	WIN32_FIND_DATAW fd;
	HANDLE h;

	if (!pat)
		return;
	memcpy(pat, dir, dl * sizeof(wchar_t));
	memcpy(pat + dl, L"\\*", 3 * sizeof(wchar_t));
	h = FindFirstFileExW(pat, FindExInfoBasic, &fd, FindExSearchNameMatch, NULL, 0);
	free(pat);
	if (h == INVALID_HANDLE_VALUE)
		return;
	do {
		const wchar_t *nm = fd.cFileName;
		if (nm[0] == L'.' && (!nm[1] || (nm[1] == L'.' && !nm[2])))
			continue;
		if (out->entries >= max) {
			out->truncated = true;
			break;
		}
		out->entries++;
		if (fd.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)
			continue; /* links and junctions are not followed */
		if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
			size_t nl = wcslen(nm);
			wchar_t *sub;
			if (depth >= TREE_DEPTH_MAX || !(sub = malloc((dl + nl + 2) * sizeof(wchar_t))))
				continue;
			memcpy(sub, dir, dl * sizeof(wchar_t));
			sub[dl] = L'\\';
			memcpy(sub + dl + 1, nm, (nl + 1) * sizeof(wchar_t));
			tree_count_dir(sub, since, max, depth + 1, out);
			free(sub);
			if (out->truncated)
				break;
		} else {
			tree_count_entry(&fd, since, out);
		}
	} while (FindNextFileW(h, &fd));
	FindClose(h);
}

int plat_tree_count(const char *root, int64_t since, size_t max_entries, struct plat_tree_count *out)
{
	WIN32_FILE_ATTRIBUTE_DATA a;
	wchar_t *w = plat_win32_widen(root);
	size_t l;

	if (!w)
		return -EINVAL;
	if (!GetFileAttributesExW(w, GetFileExInfoStandard, &a)) {
		DWORD e = GetLastError();
		free(w);
		return e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? 0 : -plat_win32_errno(e);
	}
	if (out->entries >= max_entries) {
		out->truncated = true;
		free(w);
		return 0;
	}
	if (a.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
		free(w);
		return 0;
	}
	if (a.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
		l = wcslen(w);
		while (l > 3 && (w[l - 1] == L'\\' || w[l - 1] == L'/'))
			w[--l] = L'\0';
		tree_count_dir(w, since, max_entries, 0, out);
	} else {
		WIN32_FIND_DATAW fd;
		memset(&fd, 0, sizeof(fd));
		fd.ftCreationTime = a.ftCreationTime;
		fd.ftLastWriteTime = a.ftLastWriteTime;
		fd.nFileSizeHigh = a.nFileSizeHigh;
		fd.nFileSizeLow = a.nFileSizeLow;
		out->entries++;
		tree_count_entry(&fd, since, out);
	}
	free(w);
	return 0;
}
