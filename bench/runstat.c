/*
 * runstat: run a command N times and report the median, min and max wall time from
 * fork to exit, and the median peak RSS of the command (wait4's ru_maxrss); with -m, also
 * the time from fork to the first appearance of MARKER in the command's stdout.
 * Static and dependency-free so it runs inside the nested test rig too.
 *
 *   runstat -n RUNS -s EXPECTED_STATUS [-o OUTFILE] [-m MARKER [-q]] [-t SECONDS]
 *           -- COMMAND ARGS...
 *
 * Without -m the command's stdout goes to OUTFILE (default /dev/null). With -m it goes to
 * a pipe that runstat reads, noting the time at which the read completing MARKER returned
 * (MARKER may be split across reads); runstat copies the output to OUTFILE (rewritten each
 * run) if given, else to its own stdout, or nowhere with -q. The command's stdin is
 * /dev/null; its stderr is runstat's. A run fails if its exit status is not EXPECTED_STATUS,
 * if -m is given and MARKER never appears, or if it runs longer than -t SECONDS (it is then
 * killed). Prints one line:
 *   runs=N failures=F median_ms=X min_ms=X max_ms=X median_rss_kib=R
 * and with -m, on the same line, the marker times over the runs that showed it:
 *   marker_runs=K marker_median_ms=X marker_min_ms=X marker_max_ms=X   (each "none" if K=0)
 * Exit status 0 if no run failed, 1 if one did, 2 on bad usage or a setup failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MARKER_MAX 256

static volatile sig_atomic_t child_pid, timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the copy is a courtesy; the timing goes on */
		p += w;
		n -= (size_t)w;
	}
}

/*
 * Read the child's output from fd until EOF, copying it to copy_fd (if >= 0); return the
 * time from t0 at which MARKER was first complete, or -1 if it never was. The last
 * mlen-1 bytes of each read are kept in front of the next, so a split marker is found.
 */
static double watch_output(int fd, int copy_fd, const char *marker, const struct timespec *t0)
{
	size_t mlen = strlen(marker), keep = 0;
	char buf[MARKER_MAX + 65536];
	double at = -1;

	/* After a timeout, stop: a grandchild may hold the pipe open. */
	while (!timed_out) {
		ssize_t r = read(fd, buf + keep, sizeof(buf) - keep);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (at < 0) {
			double now = ms_since(t0);
			if (memmem(buf, keep + (size_t)r, marker, mlen))
				at = now;
		}
		if (copy_fd >= 0)
			write_all(copy_fd, buf + keep, (size_t)r);
		size_t have = keep + (size_t)r;
		keep = have < mlen - 1 ? have : mlen - 1;
		memmove(buf, buf + have - keep, keep);
	}
	return at;
}

int main(int argc, char **argv)
{
	int runs = 20, expected = 0, quiet = 0, timeout = 0, opt;
	const char *outfile = NULL, *marker = NULL;

	while ((opt = getopt(argc, argv, "+n:s:o:m:qt:")) != -1) {
		if (opt == 'n')
			runs = atoi(optarg);
		else if (opt == 's')
			expected = atoi(optarg);
		else if (opt == 'o')
			outfile = optarg;
		else if (opt == 'm')
			marker = optarg;
		else if (opt == 'q')
			quiet = 1;
		else if (opt == 't')
			timeout = atoi(optarg);
		else
			return 2;
	}
	if (optind >= argc || runs < 1 || runs > 100000 || timeout < 0 ||
	    (marker && (!marker[0] || strlen(marker) > MARKER_MAX))) {
		fprintf(stderr, "usage: runstat -n RUNS -s STATUS [-o OUT] [-m MARKER [-q]] "
		                "[-t SECONDS] -- CMD ARGS...\n");
		return 2;
	}
	double *ms = calloc((size_t)runs, sizeof(*ms));
	double *mark_ms = calloc((size_t)runs, sizeof(*mark_ms));
	long *rss = calloc((size_t)runs, sizeof(*rss));
	int failures = 0, marked = 0;
	if (!ms || !mark_ms || !rss)
		return 2;
	/* No SA_RESTART: the alarm interrupts read and wait4 so a killed child is reaped. */
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);
	fflush(stdout);

	for (int i = 0; i < runs; i++) {
		struct timespec t0;
		struct rusage ru;
		int status, pipefd[2] = {-1, -1};
		if (marker && pipe2(pipefd, O_CLOEXEC) < 0) {
			perror("runstat: pipe");
			return 2;
		}
		int copy_fd = -1;
		if (marker && !quiet && outfile)
			copy_fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		else if (marker && !quiet)
			copy_fd = STDOUT_FILENO;
		timed_out = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pid_t pid = fork();
		if (pid == 0) {
			const char *out = outfile ? outfile : "/dev/null";
			int fd = marker ? pipefd[1] : open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			int in = open("/dev/null", O_RDONLY);
			if (fd < 0 || in < 0 || dup2(fd, STDOUT_FILENO) < 0)
				_exit(127);
			if (dup2(in, STDIN_FILENO) < 0)
				_exit(127);
			close(in); /* fd itself is close-on-exec (the pipe) or closed here */
			if (!marker)
				close(fd);
			execvp(argv[optind], argv + optind);
			_exit(127);
		}
		if (pid < 0) {
			perror("runstat: fork");
			return 2;
		}
		child_pid = pid;
		alarm((unsigned)timeout);
		double at = -1;
		if (marker) {
			close(pipefd[1]);
			at = watch_output(pipefd[0], copy_fd, marker, &t0);
			close(pipefd[0]);
		}
		while (wait4(pid, &status, 0, &ru) < 0) {
			if (errno != EINTR) {
				perror("runstat: wait4");
				return 2;
			}
		}
		ms[i] = ms_since(&t0);
		alarm(0);
		child_pid = 0;
		if (copy_fd > STDOUT_FILENO)
			close(copy_fd);
		rss[i] = ru.ru_maxrss;
		int failed = !WIFEXITED(status) || WEXITSTATUS(status) != expected;
		if (timed_out)
			fprintf(stderr, "runstat: run %d killed after %d s\n", i + 1, timeout);
		else if (failed && WIFEXITED(status))
			fprintf(stderr, "runstat: run %d exited with status %d, not %d\n", i + 1,
			        WEXITSTATUS(status), expected);
		else if (failed)
			fprintf(stderr, "runstat: run %d killed by signal %d\n", i + 1,
			        WTERMSIG(status));
		if (marker && at < 0) {
			fprintf(stderr, "runstat: run %d never printed '%s'\n", i + 1, marker);
			failed = 1;
		} else if (marker) {
			mark_ms[marked++] = at;
		}
		failures += failed;
	}
	qsort(rss, (size_t)runs, sizeof(*rss), cmp_long);
	double med = median(ms, runs);
	printf("runs=%d failures=%d median_ms=%.3f min_ms=%.3f max_ms=%.3f median_rss_kib=%ld",
	       runs, failures, med, ms[0], ms[runs - 1], rss[runs / 2]);
	if (marker && marked) {
		double mmed = median(mark_ms, marked);
		printf(
		    " marker_runs=%d marker_median_ms=%.3f marker_min_ms=%.3f marker_max_ms=%.3f",
		    marked, mmed, mark_ms[0], mark_ms[marked - 1]);
	} else if (marker) {
		printf(
		    " marker_runs=0 marker_median_ms=none marker_min_ms=none marker_max_ms=none");
	}
	printf("\n");
	return failures ? 1 : 0;
}
