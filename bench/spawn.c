/*
 * spawn: start a command in the background and wait for its first console line, for the
 * density benchmark (bench/density-inner.sh). The command runs in its own session with
 * stdin /dev/null and stdout and stderr appended to OUTFILE; spawn polls OUTFILE until
 * MARKER appears in it, prints one line and exits, leaving the command running:
 *   pid=PID first_ms=X
 * (X: milliseconds from fork to the poll that found MARKER; polls are 200 us apart.)
 * If MARKER does not appear within SECONDS, or the command exits first, spawn kills it,
 * prints "pid=PID failed=REASON" and exits 1. Static and dependency-free for the rig.
 *
 *   spawn -o OUTFILE -m MARKER [-t SECONDS] -- COMMAND ARGS...
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Whether MARKER is in the file at PATH (read whole: the first line comes early). */
static int has_marker(int fd, const char *marker)
{
	static char buf[65536];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return memmem(buf, (size_t)n, marker, strlen(marker)) != NULL;
}

int main(int argc, char **argv)
{
	const char *out = NULL, *marker = NULL;
	double timeout_s = 60;
	struct timespec t0, nap = {0, 200000};
	int opt, fd, status;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+o:m:t:")) != -1) {
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 'm':
			marker = optarg;
			break;
		case 't':
			timeout_s = atof(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (!out || !marker || !*marker || optind >= argc || timeout_s <= 0)
		goto usage;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(out);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);

		setsid();
		if (in < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execvp(argv[optind], argv + optind);
		_exit(127);
	}
	close(fd);
	fd = open(out, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(out);
		kill(pid, SIGKILL);
		return 2;
	}
	for (;;) {
		if (has_marker(fd, marker)) {
			printf("pid=%d first_ms=%.3f\n", (int)pid, ms_since(&t0));
			return 0;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			printf("pid=%d failed=exited-status-%d\n", (int)pid,
			       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			return 1;
		}
		if (ms_since(&t0) > timeout_s * 1e3) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			printf("pid=%d failed=timeout\n", (int)pid);
			return 1;
		}
		nanosleep(&nap, NULL);
	}
usage:
	fprintf(stderr, "usage: spawn -o OUTFILE -m MARKER [-t SECONDS] -- COMMAND ARGS...\n");
	return 2;
}
