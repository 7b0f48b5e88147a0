/*
 * jsonstream: a streaming JSON reader and writer for metadata dumps.
 *
 * A dump of a million files is hundreds of megabytes of JSON; neither side
 * may hold it as a document tree. The writer buffers output and hands it to a
 * sink callback in 64 KiB pieces. The reader is a pull tokenizer over a
 * source callback: it checks the grammar as it goes (a caller sees only
 * well-formed token sequences) and knows the line and byte offset of the
 * token it last returned, so every error names a position.
 *
 * Contract:
 *  - Writer errors are sticky: the first failing sink call is kept in w->err
 *    and every later write is a no-op; meta_jsw_flush returns it.
 *  - Reader functions return 0 or -errno; on a grammar or input error they
 *    return -EINVAL (or the source's -errno) and r->err holds one line,
 *    starting with the position ("line 12, byte 3456: ..."). Errors are sticky.
 *  - A string token's bytes (escapes decoded, \uXXXX as UTF-8) are in r->str;
 *    a number token's text too. Strings are capped (META_JS_MAX_STRING):
 *    input sized from outside never grows memory without bound.
 *  - Not thread-safe; one reader or writer per thread.
 */
#ifndef JFS_META_JSONSTREAM_H
#define JFS_META_JSONSTREAM_H

#include "base/base.h"

#define META_JS_MAX_DEPTH 4096
#define META_JS_MAX_STRING (4U << 20)

/* Sinks and sources: return bytes done (source: 0 = end of input) or -errno. */
typedef ssize_t (*meta_js_write_fn)(void *arg, const void *p, size_t n);
typedef ssize_t (*meta_js_read_fn)(void *arg, void *p, size_t n);

/* ---------------------------------------------------------------- writer */
struct meta_jsw {
	meta_js_write_fn fn;
	void *arg;
	char *buf;
	size_t len, size;
	int err;
	uint64_t total; /* bytes handed to the sink */
};
void meta_jsw_init(struct meta_jsw *w, meta_js_write_fn fn, void *arg);
void meta_jsw_release(struct meta_jsw *w); /* does not flush */
int meta_jsw_flush(struct meta_jsw *w);
void meta_jsw_raw(struct meta_jsw *w, const void *p, size_t n);
void meta_jsw_puts(struct meta_jsw *w, const char *s);
void meta_jsw_printf(struct meta_jsw *w, const char *fmt, ...) JFS_PRINTF(2, 3);
/* "\n" and two spaces per level. */
void meta_jsw_indent(struct meta_jsw *w, int depth);
/*
 * A quoted JSON string escaped as Go's encoding/json does: \" \\ \n \r \t,
 * other control bytes as \u00XX, < > & as \u003c \u003e \u0026, U+2028/9 as
 * \u2028/9 and each byte of invalid UTF-8 as \ufffd.
 */
void meta_jsw_str(struct meta_jsw *w, const void *p, size_t n);

/*
 * JuiceFS's dump escaping of names, symlink targets and xattr values (spec
 * §11.1): bytes <= 0x20, '%', '"', '\\' and bytes of invalid UTF-8 become %XX
 * (upper-case hex); the rest is copied. Appends to out.
 */
void meta_js_pct_escape(struct buf *out, const void *p, size_t n);
/* The reverse: "%XX" with two upper-case hex digits becomes the byte. */
void meta_js_pct_unescape(struct buf *out, const void *p, size_t n);

/* ---------------------------------------------------------------- reader */
enum meta_js_tok {
	META_JS_EOF = 0,
	META_JS_OBJ,     /* { */
	META_JS_OBJ_END, /* } */
	META_JS_ARR,     /* [ */
	META_JS_ARR_END, /* ] */
	META_JS_KEY,     /* an object key (its ':' consumed); bytes in str */
	META_JS_STRING,
	META_JS_NUMBER,  /* text in str */
	META_JS_TRUE,
	META_JS_FALSE,
	META_JS_NULL,
};

struct meta_jsr {
	meta_js_read_fn fn;
	void *arg;
	unsigned char *buf;
	size_t pos, end;
	int at_eof;
	int mem;            /* buf is the caller's (meta_jsr_init_mem) */
	uint64_t base;      /* input offset of buf[0] */
	uint64_t line;      /* line of buf[pos] (1-based) */
	uint64_t tok_off;   /* offset and line of the last token */
	uint64_t tok_line;
	struct buf str;
	uint8_t *stack;     /* 'o' object, 'a' array */
	int depth;
	int state;          /* what may come next; see jsonstream.c */
	int done;           /* the top-level value is complete */
	int error;
	char err[512];
};
void meta_jsr_init(struct meta_jsr *r, meta_js_read_fn fn, void *arg);
/* A reader over n bytes at p (not copied; they must outlive the reader). */
void meta_jsr_init_mem(struct meta_jsr *r, const char *p, size_t n);
void meta_jsr_release(struct meta_jsr *r);
/* Next token; at the end of the document META_JS_EOF (trailing junk is an error). */
int meta_jsr_next(struct meta_jsr *r, int *tok);
/* Skip the rest of a value whose first token was tok. */
int meta_jsr_skip(struct meta_jsr *r, int tok);
/* Number token text as an integer (no fraction, exponent or overflow). */
int meta_jsr_u64(struct meta_jsr *r, uint64_t *v);
int meta_jsr_i64(struct meta_jsr *r, int64_t *v);
/* Record an error at the last token's position; returns -EINVAL. */
int meta_jsr_fail(struct meta_jsr *r, const char *fmt, ...) JFS_PRINTF(2, 3);
/* Name of a token for messages ("string", "'{'", ...). */
const char *meta_js_tok_name(int tok);
/* Re-emit the value starting with tok in Go's MarshalIndent style at depth. */
int meta_jsr_copy(struct meta_jsr *r, int tok, struct meta_jsw *w, int depth);

#endif
