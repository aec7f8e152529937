/*
 * API benchmark client: start `EMBER --api-sock SOCK` and time how long until the socket
 * accepts a connection (process start to API ready, over RUNS starts), then, on one
 * keep-alive connection, time N requests each of GET / and PUT /machine-config.
 * Usage: apilat EMBER SOCK N RUNS          (N 0: only the start times)
 *        apilat --qmp QEMU SOCK N RUNS   the same for QEMU's control socket (QMP):
 *        ready is the QMP greeting, get is query-status, put is qom-set of a property
 * Prints: ready_us=MEDIAN/P99/MIN get_us=MEDIAN/P99/MIN put_us=MEDIAN/P99/MIN
 * Exits 1 with a message if any request does not get the status it should.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void summary(const char *name, double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp);
	size_t p99 = (n * 99) / 100;
	if (p99 >= n)
		p99 = n - 1;
	printf("%s=%.1f/%.1f/%.1f ", name, v[n / 2], v[p99], v[0]);
}

static int try_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

static bool qmp;

static pid_t spawn(const char *prog, const char *sock)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (qmp) {
			char arg[200];
			snprintf(arg, sizeof(arg), "unix:%s,server=on,wait=off", sock);
			execlp(prog, prog, "-M", "none", "-nodefaults", "-display", "none", "-qmp",
			       arg, (char *)NULL);
		} else {
			execl(prog, prog, "--api-sock", sock, (char *)NULL);
		}
		_exit(127);
	}
	return pid;
}

/* QMP: send one command line, read lines until one holds "return" (skipping events).
 * Returns 0, or -1 on an error answer or a closed socket. */
static int qmp_command(int fd, const char *cmd)
{
	static char buf[65536];
	static size_t got;
	if (cmd && write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		return -1;
	for (;;) {
		char *nl = memchr(buf, '\n', got);
		if (nl) {
			size_t line = (size_t)(nl - buf) + 1;
			bool ret = memmem(buf, line, "\"return\"", 8) != NULL;
			bool greeting = memmem(buf, line, "\"QMP\"", 5) != NULL;
			bool error = memmem(buf, line, "\"error\"", 7) != NULL;
			memmove(buf, buf + line, got - line);
			got -= line;
			if (error)
				return -1;
			if (ret || (greeting && !cmd))
				return 0;
			continue;
		}
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
}

/* Send one request and read one whole response; returns its status or -1. */
static int request(int fd, const char *req, size_t len)
{
	char buf[65536];
	size_t got = 0;
	if (write(fd, req, len) != (ssize_t)len)
		return -1;
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = 0;
		char *end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		char *cl = strcasestr(buf, "Content-Length:");
		size_t body = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
		if (got >= (size_t)(end + 4 - buf) + body)
			return atoi(buf + 9);
	}
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "--qmp")) {
		qmp = true;
		argv++;
		argc--;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: apilat [--qmp] PROGRAM SOCK N RUNS\n");
		return 2;
	}
	const char *ember = argv[1], *sock = argv[2];
	size_t n = strtoul(argv[3], NULL, 10), runs = strtoul(argv[4], NULL, 10);
	double *ready = calloc(runs, sizeof(double)), *get = calloc(n + 1, sizeof(double)),
	       *put = calloc(n + 1, sizeof(double));
	if (!runs || !ready || !get || !put)
		return 2;

	for (size_t r = 0; r < runs; r++) {
		unlink(sock);
		double t0 = now_us();
		pid_t pid = spawn(ember, sock);
		int fd;
		while ((fd = try_connect(sock)) < 0) {
			if (now_us() - t0 > 5e6) {
				fprintf(stderr, "apilat: no API socket after 5 s\n");
				kill(pid, SIGKILL);
				return 1;
			}
		}
		if (qmp && qmp_command(fd, NULL) < 0) {
			fprintf(stderr, "apilat: no QMP greeting\n");
			return 1;
		}
		ready[r] = now_us() - t0;
		if (qmp && r + 1 == runs) {
			if (qmp_command(fd, "{\"execute\": \"qmp_capabilities\"}\n") < 0) {
				fprintf(stderr, "apilat: qmp_capabilities failed\n");
				return 1;
			}
			for (size_t i = 0; i < n; i++) {
				double t = now_us();
				if (qmp_command(fd, "{\"execute\": \"query-status\"}\n") < 0) {
					fprintf(stderr, "apilat: query-status failed\n");
					return 1;
				}
				get[i] = now_us() - t;
				t = now_us();
				if (qmp_command(fd,
				                "{\"execute\": \"qom-set\", \"arguments\": "
				                "{\"path\": \"/machine\", \"property\": "
				                "\"dump-guest-core\", \"value\": true}}\n") < 0) {
					fprintf(stderr, "apilat: qom-set failed\n");
					return 1;
				}
				put[i] = now_us() - t;
			}
		} else if (n && r + 1 == runs) {
			static const char g[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
			static const char body[] = "{\"vcpu_count\": 2, \"mem_size_mib\": 256}";
			char p[256];
			int pl = snprintf(
			    p, sizeof(p),
			    "PUT /machine-config HTTP/1.1\r\nHost: localhost\r\n"
			    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			    sizeof(body) - 1, body);
			for (size_t i = 0; i < n; i++) {
				double t = now_us();
				if (request(fd, g, sizeof(g) - 1) != 200) {
					fprintf(stderr, "apilat: GET / did not return 200\n");
					return 1;
				}
				get[i] = now_us() - t;
				t = now_us();
				if (request(fd, p, (size_t)pl) != 204) {
					fprintf(stderr,
					        "apilat: PUT /machine-config did not return 204\n");
					return 1;
				}
				put[i] = now_us() - t;
			}
		}
		close(fd);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	summary("ready_us", ready, runs);
	if (n) {
		summary("get_us", get, n);
		summary("put_us", put, n);
	}
	printf("\n");
	return 0;
}
