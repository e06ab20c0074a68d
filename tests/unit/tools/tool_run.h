/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Run a tool's main() (compiled under another name for the test) in a child process, with
 * its stdout and stderr captured: each run starts from fresh globals and getopt state, and a
 * crash, an abort or a sanitizer report in the tool is a failed run, not a failed test binary.
 */
#ifndef SLUICE_TOOL_RUN_H
#define SLUICE_TOOL_RUN_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*tool_main_fn)(int argc, char **argv);

struct tool_out {
	int status; /* exit status; 128 + signal when killed */
	char out[1 << 16];
	char err[8192];
};

static inline void tool_slurp(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	lseek(fd, 0, SEEK_SET);
	while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

/* tool_run(fn, out, "prog", "arg", ..., NULL); returns out->status. */
static inline int tool_run(tool_main_fn fn, struct tool_out *o, ...)
{
	char *argv[64];
	char tpl_out[] = "/tmp/sluice-tool-out.XXXXXX";
	char tpl_err[] = "/tmp/sluice-tool-err.XXXXXX";
	int argc = 0, fo, fe, st;
	va_list ap;
	pid_t pid;

	va_start(ap, o);
	for (char *a; argc < 63 && (a = va_arg(ap, char *)) != NULL;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	fo = mkstemp(tpl_out);
	fe = mkstemp(tpl_err);
	if (fo < 0 || fe < 0)
		abort();
	unlink(tpl_out);
	unlink(tpl_err);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		int rc;

		dup2(fo, STDOUT_FILENO);
		dup2(fe, STDERR_FILENO);
		rc = fn(argc, argv);
		fflush(NULL);
		/* _exit: no atexit handlers in this copy of a threaded parent. LeakSanitizer's exit
		 * check stops the world and can hang on an allocator lock that another thread of
		 * the parent (a fake server) held at fork; the parent's own check covers leaks. */
		_exit(rc);
	}
	if (waitpid(pid, &st, 0) != pid)
		abort();
	o->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	tool_slurp(fo, o->out, sizeof(o->out));
	tool_slurp(fe, o->err, sizeof(o->err));
	return o->status;
}

#endif /* SLUICE_TOOL_RUN_H */
