/* The floor for "process start to API socket ready": a static program that only creates,
 * binds and listens on a Unix socket, then waits. bench/api.sh times it like Ember, so the
 * table shows what exec and the socket calls alone cost on this host.
 * Usage: listen_floor --api-sock PATH */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (argc != 3 || strlen(argv[2]) >= sizeof(a.sun_path))
		return 2;
	strcpy(a.sun_path, argv[2]);
	unlink(argv[2]);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 16) < 0)
		return 1;
	pause();
	return 0;
}
