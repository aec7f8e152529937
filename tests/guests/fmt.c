/* printf-like formatting for the test guests. Pure C with no I/O of its own, so it also
 * builds on the host for smoke tests. */
#include "guest.h"

size_t fmt_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static void fmt_pad(struct fmt_sink *s, char c, int n)
{
	while (n-- > 0)
		s->put(s, c);
}

static void fmt_num(struct fmt_sink *s, u64 v, unsigned base, bool neg, int width, char pad)
{
	char tmp[24]; /* 2^64 has 20 decimal digits */
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg && pad == '0')
		s->put(s, '-');
	fmt_pad(s, pad, width - n - (neg ? 1 : 0));
	if (neg && pad != '0')
		s->put(s, '-');
	while (n)
		s->put(s, tmp[--n]);
}

void fmt_vformat(struct fmt_sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		char pad = ' ';
		int width = 0, lng = 0;

		if (*fmt != '%') {
			s->put(s, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			long long v = lng ? va_arg(ap, long long) : va_arg(ap, int);
			u64 mag = v < 0 ? -(u64)v : (u64)v;

			fmt_num(s, mag, 10, v < 0, width, pad);
			break;
		}
		case 'u':
			fmt_num(s, lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 10,
			        false, width, pad);
			break;
		case 'x':
			fmt_num(s, lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 16,
			        false, width, pad);
			break;
		case 'p':
			s->put(s, '0');
			s->put(s, 'x');
			fmt_num(s, (uintptr_t)va_arg(ap, void *), 16, false, width, pad);
			break;
		case 'c':
			s->put(s, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);

			if (!str)
				str = "(null)";
			fmt_pad(s, ' ', width - (int)fmt_strlen(str));
			while (*str)
				s->put(s, *str++);
			break;
		}
		case '%':
			s->put(s, '%');
			break;
		case '\0':
			return;
		default: /* unknown conversion: show it rather than guess */
			s->put(s, '%');
			s->put(s, *fmt);
			break;
		}
	}
}

static void fmt_put_buf(struct fmt_sink *s, char c)
{
	if (s->len + 1 < s->cap)
		s->buf[s->len] = c;
	s->len++;
}

int fmt_snprintf(char *buf, size_t cap, const char *fmt, ...)
{
	struct fmt_sink s = {.put = fmt_put_buf, .buf = buf, .cap = cap};
	va_list ap;

	va_start(ap, fmt);
	fmt_vformat(&s, fmt, ap);
	va_end(ap);
	if (cap)
		buf[s.len < cap ? s.len : cap - 1] = '\0';
	return (int)s.len;
}
