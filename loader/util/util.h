/* SPDX-License-Identifier: GPL-2.0 */
/* Small facts the loader needs in many places, implemented once. */
#ifndef IDGATE_LOADER_UTIL_H
#define IDGATE_LOADER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* ---- clock.c ---- */
/* clock id read in nanoseconds. */
uint64_t idg_clock_ns(clockid_t id);
/* CLOCK_MONOTONIC in milliseconds, for durations and timers. */
double idg_now_ms(void);

/* ---- file.c ---- */
/* A file's identity and last change as stat says: equal ids mean the
 * same file, unchanged as far as its timestamps can tell. */
struct idg_stat_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};
void idg_stat_id_from(struct idg_stat_id *id, const struct stat *st);
bool idg_stat_id_same(const struct idg_stat_id *a, const struct idg_stat_id *b);
/* All of buf to fd, across short writes and EINTR; negative errno. */
int idg_write_all(int fd, const void *buf, size_t len);
/* The whole of a regular file, NUL-terminated, into *buf (the caller
 * frees it); negative errno. */
int idg_read_file(const char *path, char **buf, size_t *len);
/* Whether the file at path holds exactly len bytes of text (a missing or
 * unreadable one does not). */
bool idg_file_holds(const char *path, const void *text, size_t len);
/* Writes the new content into an open temporary file; negative errno. */
typedef int (*idg_fill_fn)(int fd, void *arg);
/*
 * Replaces path with what fill writes, such that a crash leaves the old
 * file or the complete new one: a temporary file in path's directory,
 * fsync, rename over path, fsync of the directory. Negative errno; on
 * failure the temporary file is gone and path was not replaced (unless
 * only the directory's fsync failed).
 */
int idg_file_replace(const char *path, mode_t mode, idg_fill_fn fill,
		     void *arg);
/* idg_file_replace with buf as the content. */
int idg_file_replace_buf(const char *path, mode_t mode, const void *buf,
			 size_t len);
/*
 * Writes buf over path's content in place (created when missing), not
 * synced: for a record of kernel state that a reboot ends as well (the
 * generation slots' records, whose readers check it whole, a length and
 * a checksum of its own; the mesh's documents of a run), read under the
 * writer's lock, so that a torn write is only a record they do not use. No new inode per write, which
 * on ext4 costs a scan of recently freed ones. Every other file is
 * replaced and synced (idg_file_replace). Negative errno.
 */
int idg_file_rewrite(const char *path, mode_t mode, const void *buf,
		     size_t len);
/* Removes dir and the files in it (not directories below it); a missing
 * one is nothing to remove. Negative errno. */
int idg_dir_remove(const char *dir);
/* Removes the temporary files that writers of path killed midway left
 * behind; a missing directory is nothing to remove. Negative errno. */
int idg_file_replace_leftovers(const char *path);

/* ---- base64.c ---- */
/* data as standard base64 with padding, NUL-terminated; NULL when out of
 * memory. */
char *idg_b64_encode(const void *data, size_t len);
/* s decoded into *out (NUL-terminated past *len; the caller frees it);
 * -EINVAL for a malformed one. */
int idg_b64_decode(const char *s, uint8_t **out, size_t *len);

/* ---- quote.c ---- */
/* s as a JSON string, which is also a YAML double-quoted scalar:
 * quotes, backslashes and control characters escaped. */
void idg_fput_quoted(FILE *f, const char *s);

/* ---- proto.c ---- */
/* One spelling of IP protocol names everywhere idgate prints them:
 * Cilium's ("TCP", "UDP", "SCTP", "ICMP", "ICMPv6"). */
#define IDG_PROTO_STR_LEN 16
/* The name of an IP protocol number, or NULL for one without a name. */
const char *idg_proto_name(uint8_t proto);
/* idg_proto_name, else "proto-N" in buf (IDG_PROTO_STR_LEN bytes). */
const char *idg_proto_str(uint8_t proto, char *buf, size_t len);
/* The number of a name, any case; -ENOENT for an unknown one. */
int idg_proto_parse(const char *name);

#endif /* IDGATE_LOADER_UTIL_H */
