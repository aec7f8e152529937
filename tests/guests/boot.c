/* Reading Ember's boot data: the E820 table and command line in boot_params, and options
 * on the command line. Pure C, so it also builds on the host for smoke tests. */
#include "guest.h"

/* boot_params fields are packed and little-endian: read them a byte at a time. */
static u64 ld_le(const u8 *p, unsigned n)
{
	u64 v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

unsigned boot_e820(const void *bp, struct e820_entry *out, unsigned max)
{
	const u8 *b = bp;
	unsigned count = b[BP_E820_ENTRIES];

	for (unsigned i = 0; i < count && i < max && i < BP_E820_MAX; i++) {
		const u8 *e = b + BP_E820_TABLE + i * E820_ENTRY_SIZE;

		out[i].addr = ld_le(e, 8);
		out[i].size = ld_le(e + 8, 8);
		out[i].type = (u32)ld_le(e + 16, 4);
	}
	return count;
}

u64 boot_cmdline_addr(const void *bp)
{
	const u8 *b = bp;

	return ld_le(b + BP_EXT_CMD_LINE_PTR, 4) << 32 | ld_le(b + BP_CMD_LINE_PTR, 4);
}

bool cmdline_copy(char *dst, size_t cap, const char *src)
{
	size_t i;

	if (!cap)
		return false;
	for (i = 0; i + 1 < cap && src[i]; i++)
		dst[i] = src[i];
	dst[i] = '\0';
	return !src[i];
}

bool cmdline_get(const char *cl, const char *key, const char **val, size_t *len)
{
	size_t klen = fmt_strlen(key);
	bool found = false;

	for (const char *p = cl; *p;) {
		size_t n = 0, i;

		while (*p == ' ')
			p++;
		while (p[n] && p[n] != ' ')
			n++;
		for (i = 0; i < klen && i < n && p[i] == key[i]; i++)
			;
		if (i == klen && n > klen && p[klen] == '=') {
			*val = p + klen + 1;
			*len = n - klen - 1;
			found = true;
		}
		p += n;
	}
	return found;
}

bool parse_u64(const char *s, size_t len, u64 *out)
{
	unsigned base = 10;
	u64 v = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		len -= 2;
	}
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v))
			return false;
	}
	*out = v;
	return true;
}

bool cmdline_get_u64(const char *cl, const char *key, u64 *out)
{
	const char *val;
	size_t len;

	return cmdline_get(cl, key, &val, &len) && parse_u64(val, len, out);
}

bool cmdline_has(const char *cl, const char *key, const char *value)
{
	const char *val;
	size_t len, i;

	if (!cmdline_get(cl, key, &val, &len))
		return false;
	for (i = 0; i < len && value[i] == val[i]; i++)
		;
	return i == len && !value[i];
}
