/*
 * t/fuzz/fuzz.h: what every fuzz target shares. A target is one file,
 * fuzz-<parser>.c, defining LLVMFuzzerTestOneInput; it is linked twice:
 * with libFuzzer (t/fuzz/run.sh, clang -fsanitize=fuzzer) to search for
 * new inputs, and with t/fuzz/replay.c (make check, any compiler, ASan and
 * UBSan with --enable-sanitizers) to run its corpus as a regression test.
 *
 * Targets check the contracts of their parser as well as memory safety:
 * a broken contract calls FUZZ_CHECK, which aborts, so libFuzzer keeps the
 * input as a crash and the replay counts it as an error.
 */
#ifndef JFS_T_FUZZ_H
#define JFS_T_FUZZ_H

#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz: %s:%d: contract broken: %s\n", __FILE__,    \
				__LINE__, #cond);                                          \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* The input as a C string (cut at its first NUL, as a header would be); free it. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	return xstrndup((const char *)data, size);
}

/*
 * Split the input at its first '\n' into two C strings (the second empty
 * when there is none): for parsers of two inputs, e.g. a header and a Host.
 */
static inline void fuzz_split(const uint8_t *data, size_t size, char **a, char **b)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl ? (size_t)(nl - data) : size;

	*a = xstrndup((const char *)data, n);
	*b = nl ? xstrndup((const char *)nl + 1, size - n - 1) : xstrdup("");
}

/* Take a little-endian integer of n bytes (fewer at the end of input). */
static inline uint64_t fuzz_take(const uint8_t **data, size_t *size, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && *size; i++) {
		v |= (uint64_t)**data << (8 * i);
		(*data)++;
		(*size)--;
	}
	return v;
}

#endif
