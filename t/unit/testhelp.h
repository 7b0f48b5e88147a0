/*
 * t/unit/testhelp: small helpers shared by the Check unit tests.
 * Add functions here; do not rewrite other people's.
 */
#ifndef JFS_TESTHELP_H
#define JFS_TESTHELP_H

#include "base/base.h"

/* mkdtemp under $TMPDIR (or /tmp) named jfs-<tag>-XXXXXX; caller frees. NULL on error. */
char *test_tmpdir(const char *tag);
/* rm -rf path (does not follow symlinks); NULL is a no-op. 0 or -errno. */
int test_rm_rf(const char *path);

#endif
