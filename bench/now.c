/*
 * now: print CLOCK_MONOTONIC in microseconds, for shell scripts that time an interval
 * (busybox's date has no %N). Static, so it runs inside the nested test rig.
 */
#include <stdio.h>
#include <time.h>

int main(void)
{
	struct timespec t;
	if (clock_gettime(CLOCK_MONOTONIC, &t) < 0)
		return 1;
	printf("%lld\n", (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000);
	return 0;
}
