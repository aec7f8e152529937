/* Raw terminal input for the serial console, restored on every way out of the process. */
#include "term.h"

#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static int saved_fd = -1;

void term_restore(void)
{
	if (saved_fd >= 0) {
		tcsetattr(saved_fd, TCSANOW, &saved);
		saved_fd = -1;
	}
}

bool term_raw(int fd)
{
	struct termios raw;
	if (!isatty(fd) || tcgetattr(fd, &saved) < 0)
		return false;
	raw = saved;
	/* Input only: output processing stays on so a guest's bare "\n" still returns the
	 * carriage. */
	raw.c_iflag &=
	    ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &raw) < 0)
		return false;
	saved_fd = fd;
	atexit(term_restore);
	return true;
}
