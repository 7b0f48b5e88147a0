/*
 * base: libc-only helpers shared by every layer.
 *
 * Contract:
 *  - struct buf is never NULL-pointered after buf_init: ptr always points at a
 *    NUL-terminated string (possibly the shared empty one), len excludes the NUL.
 *    A buf may carry a cap: growth past it fails with -E2BIG instead of
 *    allocating, so anything sized from outside input is bounded.
 *  - Small bookkeeping allocations (xmalloc & co.) abort on OOM: there is no
 *    sane recovery from failing to allocate 40 bytes.
 *  - Number parsers reject junk, overflow and (for unsigned) a sign.
 *  - Functions return 0 or -errno unless they say otherwise.
 * All functions are thread-safe except where a struct is shared without a lock.
 */
#ifndef JFS_BASE_H
#define JFS_BASE_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED(x) ((void)(x))

#if defined(__GNUC__)
#define JFS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define JFS_NORETURN __attribute__((noreturn))
#else
#define JFS_PRINTF(f, a)
#define JFS_NORETURN
#endif

JFS_NORETURN void jfs_die(const char *file, int line, const char *fmt, ...) JFS_PRINTF(3, 4);

/* Invariant check: never for input validation. */
#define BUG_ON(cond)                                                              \
	do {                                                                      \
		if (__builtin_expect(!!(cond), 0))                                \
			jfs_die(__FILE__, __LINE__, "BUG: %s", #cond);            \
	} while (0)

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) JFS_PRINTF(1, 2);

/* ---- struct buf: growable, NUL-terminated, optionally capped ---- */
struct buf {
	char *ptr;
	size_t len;
	size_t alloc; /* 0 while ptr points at the shared empty string */
	size_t cap;   /* 0 = uncapped (bookkeeping); else max len, growth gives -E2BIG */
};
extern char buf_empty[];
#define BUF_INIT { buf_empty, 0, 0, 0 }
void buf_init(struct buf *b, size_t cap);
void buf_release(struct buf *b);          /* frees and re-inits (keeps cap) */
void buf_reset(struct buf *b);            /* len = 0, keeps memory */
int buf_grow(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addch(struct buf *b, char c);
/* Decimal digits of v (no printf: listings format thousands of numbers a page). */
int buf_add_u64(struct buf *b, uint64_t v);
int buf_addf(struct buf *b, const char *fmt, ...) JFS_PRINTF(2, 3);
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);
char *buf_detach(struct buf *b, size_t *len); /* caller frees; b re-inited */

/* ---- big-endian encoding (JuiceFS's utils.Buffer is big-endian) ---- */
static inline void put_be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ---- checked number parsing ---- */
int parse_u64(const char *s, uint64_t *out);           /* decimal only */
int parse_i64(const char *s, int64_t *out);
int parse_u32(const char *s, uint32_t *out);
int parse_int(const char *s, int *out);
/*
 * Size with optional K/M/G/T/P suffix (powers of 1024, optional trailing
 * "i"/"iB"/"B"). A bare number is multiplied by default_unit (JuiceFS flags
 * differ: --block-size bare = KiB, --capacity bare = GiB, --cache-size = MiB).
 */
int parse_size(const char *s, uint64_t default_unit, uint64_t *out);
/* Go-style duration: "1s", "100ms", "1h30m", "2"(= seconds). Result in ms. */
int parse_duration_ms(const char *s, int64_t *out_ms);
int parse_bool(const char *s, int *out);

/* ---- time ---- */
int64_t now_us(void);   /* wall clock, microseconds since epoch */
int64_t mono_ms(void);  /* monotonic milliseconds */
void sleep_ms(int64_t ms);

/* ---- misc ---- */
void random_bytes(void *p, size_t n);   /* from getrandom(); aborts if unavailable */
void uuid4(char out[37]);
int mkdir_p(const char *path, mode_t mode);
int write_file_atomic(const char *path, const void *data, size_t len, int do_fsync);
/* All of p[0..n) to fd (short writes and EINTR retried); 0 or -errno. */
int fd_write_all(int fd, const void *p, size_t n);
/*
 * Buffer address, file offset and length unit of O_DIRECT on the disks we
 * meet, and the size below which a page-cache copy costs less than a
 * synchronous disk write (storage/file.c, the chunk layer's disk cache).
 */
#define DIRECT_ALIGN 4096
#define DIRECT_MIN (256 * 1024)
/*
 * fd_write_all for an fd opened with O_DIRECT at offset 0: the aligned head
 * of p goes direct, the rest (a short tail, whatever follows, or everything
 * once the file system refused a direct write with EINVAL) through the page
 * cache. O_DIRECT is cleared on return, so what the caller writes next may
 * be unaligned. *refused is set when the very first direct write was
 * refused, so the caller can stop asking. 0 or -errno.
 */
int fd_write_direct(int fd, const void *p, size_t n, int *refused);
const char *errno_name(int err); /* "ENOENT" etc., positive errno */
/* Go's syscall.Errno.Error() text ("no such file or directory"; "errno N" if unknown). */
void errno_text(int err, char *out, size_t n);
/*
 * Length (1..4) of the UTF-8 sequence that starts s, or 0 when it is not
 * valid UTF-8 or not a character XML 1.0 allows (overlong forms, surrogates,
 * past U+10FFFF, U+FFFE/U+FFFF, C0 controls but tab, LF and CR). s is
 * NUL-terminated; a NUL is never part of a sequence (returns 0).
 */
size_t utf8_xml_char_len(const char *s);
/* The replacement character U+FFFD in UTF-8, for bytes that are not text. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

/* ---- logging (JuiceFS line format) ---- */
enum log_level { LOG_FATAL, LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_TRACE };
extern int jfs_log_level;
void log_set_level(int lvl);
int log_parse_level(const char *s, int *lvl);
void log_set_file(FILE *f); /* default stderr; NULL = stderr */
void log_write(int lvl, const char *fn, const char *file, int line, const char *fmt, ...)
	JFS_PRINTF(5, 6);
#define jlog(lvl, ...)                                                            \
	do {                                                                      \
		if ((lvl) <= jfs_log_level)                                       \
			log_write((lvl), __func__, __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)
#define log_error(...) jlog(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) jlog(LOG_WARNING, __VA_ARGS__)
#define log_info(...) jlog(LOG_INFO, __VA_ARGS__)
#define log_debug(...) jlog(LOG_DEBUG, __VA_ARGS__)

#include "banned.h"
#endif
