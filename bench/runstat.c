/*
 * runstat: run a command N times and report the median, min and max wall time from
 * fork to exit, and the median peak RSS of the command (wait4's ru_maxrss).
 * Static and dependency-free so it runs inside the nested test rig too.
 *
 *   runstat -n RUNS -s EXPECTED_STATUS [-o OUTFILE] -- COMMAND ARGS...
 *
 * The command's stdout goes to OUTFILE (default /dev/null); a run whose exit status is
 * not EXPECTED_STATUS counts as a failure. Prints one line:
 *   runs=N failures=F median_ms=X min_ms=X max_ms=X median_rss_kib=R
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
	int runs = 20, expected = 0, opt;
	const char *outfile = "/dev/null";

	while ((opt = getopt(argc, argv, "n:s:o:")) != -1) {
		if (opt == 'n')
			runs = atoi(optarg);
		else if (opt == 's')
			expected = atoi(optarg);
		else if (opt == 'o')
			outfile = optarg;
		else
			return 2;
	}
	if (optind >= argc || runs < 1 || runs > 100000) {
		fprintf(stderr, "usage: runstat -n RUNS -s STATUS [-o OUT] -- CMD ARGS...\n");
		return 2;
	}
	double *ms = calloc((size_t)runs, sizeof(*ms));
	long *rss = calloc((size_t)runs, sizeof(*rss));
	int failures = 0;
	if (!ms || !rss)
		return 2;

	for (int i = 0; i < runs; i++) {
		struct timespec t0, t1;
		struct rusage ru;
		int status;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pid_t pid = fork();
		if (pid == 0) {
			int fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			int in = open("/dev/null", O_RDONLY);
			if (fd < 0 || in < 0)
				_exit(127);
			dup2(fd, STDOUT_FILENO);
			dup2(in, STDIN_FILENO);
			execvp(argv[optind], argv + optind);
			_exit(127);
		}
		if (pid < 0 || wait4(pid, &status, 0, &ru) < 0) {
			perror("runstat");
			return 2;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		rss[i] = ru.ru_maxrss;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != expected)
			failures++;
	}
	qsort(ms, (size_t)runs, sizeof(*ms), cmp_double);
	qsort(rss, (size_t)runs, sizeof(*rss), cmp_long);
	double med = runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
	printf("runs=%d failures=%d median_ms=%.3f min_ms=%.3f max_ms=%.3f median_rss_kib=%ld\n",
	       runs, failures, med, ms[0], ms[runs - 1], rss[runs / 2]);
	return failures ? 1 : 0;
}
