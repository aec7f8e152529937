/*
 * The wire between ember-oci's host process (src/oci/shim.c) and the guest agent
 * (guest/agent.c): one vsock stream carrying frames, each a fixed header and at most
 * AGENT_MAX_PAYLOAD bytes. Both ends are x86_64, so the header is in host order.
 *
 * The agent connects to the host (CID 2, AGENT_PORT) when it has mounted the root, and
 * waits for SPEC. Then:
 *   host SPEC (id 0, the container's process)    agent READY, or ERROR (text) and exits
 *   host START (id 0)                            agent STARTED, or EXIT 127/126 at once
 *   host EXEC (id N > 0, a process spec)         agent STARTED or ERROR for id N
 *   host STDIN / STDIN_EOF (id)                  agent writes or closes that pipe
 *   host SIGNAL (id; payload "SIG ALL")          agent kill(2)s it, or all with ALL=1
 *   agent STDOUT / STDERR (id)                   the process's output
 *   agent EXIT (id; payload the status, decimal) after the process's pipes are drained;
 *                                                EXIT for id 0 ends the VM
 * A process spec is NUL-terminated "key=value" strings; lists repeat the key:
 *   arg= env= cwd= uid= gid= gid+= (additional group) rlimit=RES:SOFT:HARD nnp=1
 *   hostname= mount=TYPE:FLAGS:DEST:DATA (FLAGS decimal MS_*; DEST has no ':')
 * hostname= and mount= are read from SPEC only.
 */
#ifndef EMBER_AGENT_PROTO_H
#define EMBER_AGENT_PROTO_H

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#define AGENT_PORT        1024
#define AGENT_MAX_PAYLOAD 65536
#define AGENT_MAX_STRINGS 4096 /* args + env + everything else in one spec */

enum agent_frame_type {
	AF_SPEC = 1,
	AF_READY,
	AF_ERROR,
	AF_START,
	AF_STARTED,
	AF_EXEC,
	AF_STDIN,
	AF_STDIN_EOF,
	AF_SIGNAL,
	AF_STDOUT,
	AF_STDERR,
	AF_EXIT,
};

struct agent_frame {
	uint32_t type;
	uint32_t id;
	uint32_t len;
};

/* Whole reads and writes on the stream (and on pipes): -1 on an error or an early end. */
static inline int agent_io_all(int fd, void *buf, size_t len, int writing)
{
	char *p = buf;
	while (len) {
		ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static inline int agent_write_all(int fd, const void *buf, size_t len)
{
	return agent_io_all(fd, (void *)buf, len, 1);
}

static inline int agent_read_all(int fd, void *buf, size_t len)
{
	return agent_io_all(fd, buf, len, 0);
}

#endif
