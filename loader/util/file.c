// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "util.h"

int idg_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (!w)
			return -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

void idg_stat_id_from(struct idg_stat_id *id, const struct stat *st)
{
	memset(id, 0, sizeof(*id));
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

bool idg_stat_id_same(const struct idg_stat_id *a, const struct idg_stat_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       ts_eq(&a->mtime, &b->mtime) && ts_eq(&a->ctime, &b->ctime);
}

int idg_read_file(const char *path, char **out, size_t *out_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *nb;
	struct stat sb;
	int fd, err = 0;

	*out = NULL;
	*out_len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb)) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err = S_ISDIR(sb.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	/* The size is a hint: the file may grow or shrink meanwhile. */
	cap = (size_t)sb.st_size + 2;
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (cap - len < 2) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto out;
		}
		if (!r)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

bool idg_file_holds(const char *path, const void *text, size_t len)
{
	char *buf = NULL;
	size_t n = 0;
	bool same;

	if (idg_read_file(path, &buf, &n))
		return false;
	same = n == len && !memcmp(buf, text, len);
	free(buf);
	return same;
}

/* The temporary name of idg_file_replace: ".<base>.XXXXXX" in dir. */
#define TMP_FMT "%s/.%s.XXXXXX"
#define TMP_SUFFIX_LEN 6

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

static int file_replace(const char *path, mode_t mode, idg_fill_fn fill,
			void *arg)
{
	char *dcopy = strdup(path), *bcopy = strdup(path), *tmp = NULL;
	const char *dir, *base;
	int fd = -1, err;
	size_t len;

	if (!dcopy || !bcopy) {
		err = -ENOMEM;
		goto out;
	}
	dir = dirname(dcopy);
	base = basename(bcopy);
	/* Same directory as the target: the rename cannot cross file
	 * systems. A unique name: two writers never share a temp file. */
	len = strlen(dir) + strlen(base) + sizeof(TMP_FMT);
	tmp = malloc(len);
	if (!tmp) {
		err = -ENOMEM;
		goto out;
	}
	snprintf(tmp, len, TMP_FMT, dir, base);
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		tmp = NULL;
		goto out;
	}
	err = fchmod(fd, mode) ? -errno : 0;
	if (!err)
		err = fill(fd, arg);
	/* Data on disk before the name points at it: a crash leaves either
	 * the old file or the complete new one. */
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	fd = -1;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		goto out;
	free(tmp);
	tmp = NULL;
	/* The rename itself durable. */
	err = fsync_dir(dir);
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dcopy);
	free(bcopy);
	return err;
}

struct buf_arg {
	const void *p;
	size_t n;
};

static int fill_buf(int fd, void *arg)
{
	const struct buf_arg *b = arg;

	return idg_write_all(fd, b->p, b->n);
}

int idg_file_replace(const char *path, mode_t mode, idg_fill_fn fill,
		     void *arg)
{
	return file_replace(path, mode, fill, arg);
}

int idg_file_replace_buf(const char *path, mode_t mode, const void *buf,
			 size_t len)
{
	struct buf_arg b = { .p = buf, .n = len };

	return file_replace(path, mode, fill_buf, &b);
}

static bool is_tmp_of(const char *name, const char *base)
{
	size_t n = strlen(base);

	return name[0] == '.' && !strncmp(name + 1, base, n) &&
	       name[n + 1] == '.' && strlen(name + n + 2) == TMP_SUFFIX_LEN;
}

int idg_dir_remove(const char *dir)
{
	struct dirent *e;
	int err = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    unlinkat(dirfd(d), e->d_name, 0) && errno != ENOENT && !err)
			err = -errno;
	closedir(d);
	if (!err && rmdir(dir) && errno != ENOENT)
		err = -errno;
	return err;
}

int idg_file_replace_leftovers(const char *path)
{
	char *dcopy = strdup(path), *bcopy = strdup(path);
	const char *dir, *base;
	struct dirent *e;
	DIR *d = NULL;
	int err = 0;

	if (!dcopy || !bcopy) {
		err = -ENOMEM;
		goto out;
	}
	dir = dirname(dcopy);
	base = basename(bcopy);
	d = opendir(dir);
	if (!d) {
		err = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	while ((e = readdir(d)))
		if (is_tmp_of(e->d_name, base) &&
		    unlinkat(dirfd(d), e->d_name, 0) && errno != ENOENT && !err)
			err = -errno;
out:
	if (d)
		closedir(d);
	free(dcopy);
	free(bcopy);
	return err;
}

int idg_file_rewrite(const char *path, mode_t mode, const void *buf,
		     size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode), err = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t w = pwrite(fd, p + done, len - done, (off_t)done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)w;
	}
	if (!err && ftruncate(fd, (off_t)len))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	return err;
}
