// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include <idgate/datapath.h>

#include "instance.h"

int idg_path_join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int idg_mkdir_p(const char *path, unsigned int mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int idg_instance_init(struct idg_instance *in, const char *node,
		      const char *pin_dir, const char *state_dir)
{
	int n;

	memset(in, 0, sizeof(*in));
	in->lock_fd = -1;
	/* The name becomes a path component below: "..", "." or a '/'
	 * would leave the roots. */
	if (!node || !idg_node_name_ok(node))
		return -EINVAL;
	strcpy(in->node, node);
	n = pin_dir ? snprintf(in->pin_dir, sizeof(in->pin_dir), "%s", pin_dir) :
		      snprintf(in->pin_dir, sizeof(in->pin_dir), "%s/%s",
			       IDG_PIN_ROOT, node);
	if (n < 0 || (size_t)n >= sizeof(in->pin_dir))
		return -ENAMETOOLONG;
	n = state_dir ? snprintf(in->state_dir, sizeof(in->state_dir), "%s",
				 state_dir) :
			snprintf(in->state_dir, sizeof(in->state_dir), "%s/%s",
				 IDG_STATE_ROOT, node);
	if (n < 0 || (size_t)n >= sizeof(in->state_dir))
		return -ENAMETOOLONG;
	return 0;
}

int idg_bpffs_ensure(void)
{
	struct statfs st;

	if (!statfs(IDG_BPFFS, &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir(IDG_BPFFS, 0700) && errno != EEXIST)
		return -errno;
	if (mount("bpf", IDG_BPFFS, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

int idg_instance_lock(struct idg_instance *in)
{
	int err;

	err = idg_mkdir_p(in->pin_dir, 0700);
	if (err)
		return err;
	in->lock_fd = open(in->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (in->lock_fd < 0)
		return -errno;
	if (flock(in->lock_fd, LOCK_EX)) {
		err = -errno;
		close(in->lock_fd);
		in->lock_fd = -1;
		return err;
	}
	return 0;
}

void idg_instance_unlock(struct idg_instance *in)
{
	if (in->lock_fd >= 0)
		close(in->lock_fd); /* releases the flock */
	in->lock_fd = -1;
}

bool idg_instance_exists(const struct idg_instance *in)
{
	char path[PATH_MAX];

	if (idg_path_join(path, sizeof(path), in->pin_dir, IDG_MAP_GEN))
		return false;
	return access(path, F_OK) == 0;
}
