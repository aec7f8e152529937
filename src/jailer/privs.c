/* Giving up root: the capability bounding set while it still can, then groups, gid and uid,
 * then whatever capabilities are left, then no new privileges through exec. Each is checked
 * afterwards, since a half-dropped jail is worse than none. */
#include "jailer.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int priv_drop(uid_t uid, gid_t gid)
{
	/* The bounding set first: changing it needs CAP_SETPCAP, which the uid change ends.
	 * Past the last capability this kernel knows, PR_CAPBSET_DROP says EINVAL. */
	int cap;
	for (cap = 0; prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0; cap++)
		;
	if (errno != EINVAL || cap == 0)
		return jail_err("privileges", errno,
		                "cannot drop capability %d from the bounding set", cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return jail_err("privileges", errno, "cannot clear the ambient capabilities");
	if (setgroups(0, NULL) < 0)
		return jail_err("privileges", errno, "setgroups(0)");
	if (setresgid(gid, gid, gid) < 0)
		return jail_err("privileges", errno, "setresgid(%u)", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return jail_err("privileges", errno, "setresuid(%u)", (unsigned)uid);

	/* A non-zero uid has lost its capabilities already; uid 0 has not. Both end empty. */
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0}};
	if (syscall(SYS_capset, &hdr, data) < 0)
		return jail_err("privileges", errno, "capset (clearing every capability)");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return jail_err("privileges", errno, "PR_SET_NO_NEW_PRIVS");

	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != uid ||
	    eu != uid || su != uid || rg != gid || eg != gid || sg != gid ||
	    getgroups(0, NULL) != 0)
		return jail_err("privileges", EPERM, "the uid or gid did not change");
	if (syscall(SYS_capget, &hdr, data) < 0)
		return jail_err("privileges", errno, "capget");
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return jail_err("privileges", EPERM, "capabilities remain after capset");
	return 0;
}
