/*
 * `juicefs restore META-URL HOUR ...`: put files back from the trash (spec §8).
 *
 * A trash hour directory holds every node deleted in that hour, flat, named
 * "<parent inode>-<inode>-<name>". Restoring an entry is one rename of it
 * with RENAME_RESTORE | RENAME_NOREPLACE to (parent inode, name):
 *  - with --put-back every entry goes back to its original directory; a
 *    directory deleted in the same hour is itself an entry, and its children
 *    go into it by inode, so the order of the renames does not matter;
 *  - without it only entries whose original parent is a directory of the
 *    same hour directory move (into that directory, still inside the trash),
 *    which rebuilds the deleted trees for inspection, as JuiceFS does;
 *  - a name that exists again at the destination is a conflict: the entry
 *    stays in the trash and is reported, never overwritten.
 * Outcomes are counted as the real client's progress bars count them
 * (restored or rebuilt, need-put-back, conflicts, failed). Like the real
 * client the command succeeds even with conflicts; an hour directory that
 * does not exist makes the exit status 1 (the real client exits 0).
 */
#include "cmd/cmd.h"

#include <pthread.h>
#include <unistd.h>

#include "meta/meta.h"

static const struct conf_opt restore_opts[] = {
	{ "put-back", 0, OPT_BOOL, "false", 0, "move the recovered files into original directory",
	  NULL },
	{ "threads", 0, OPT_INT, "10", 0, "number of threads", NULL },
};

const struct conf_cmd cmd_restore_conf = {
	.name = "restore",
	.usage = "juicefs restore [command options] META HOUR ...",
	.summary = "restore files from trash",
	.description = "Rebuild the tree structure for trash files, and put them back to original "
		       "directories.\n\nExamples:\n$ juicefs restore redis://localhost/1 "
		       "2023-05-10-01",
	.opts = restore_opts,
	.nopts = ARRAY_SIZE(restore_opts),
	.min_args = 2,
	.max_args = -1,
};

struct rs_entry {
	char *name;
	uint64_t ino;
	uint8_t type;
};

struct rs_job {
	struct meta *m;
	uint64_t hour;
	int put_back;
	struct rs_entry *v;
	size_t n, next;
	uint64_t *dirs; /* sorted inodes of the directories in the hour (no --put-back) */
	size_t ndirs;
	uint64_t done, skipped, conflicts, failed;
	pthread_mutex_t mu;
};

static int rs_collect(void *arg, const struct meta_dirent *e)
{
	struct rs_job *j = arg;

	j->v = xrealloc(j->v, (j->n + 1) * sizeof(*j->v));
	j->v[j->n].name = xstrndup(e->name, e->namelen);
	j->v[j->n].ino = e->ino;
	j->v[j->n].type = e->type;
	j->n++;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* "<parent>-<inode>-<name>": the parent inode and the name; -EINVAL if not. */
static int rs_parse(const char *s, uint64_t *parent, const char **name)
{
	const char *d1 = strchr(s, '-'), *d2;
	uint64_t v = 0;

	if (!d1 || d1 == s || !(d2 = strchr(d1 + 1, '-')))
		return -EINVAL;
	for (const char *p = s; p < d1; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*parent = v;
	*name = d2 + 1;
	return 0;
}

static void *rs_worker(void *arg)
{
	struct rs_job *j = arg;
	struct meta_ctx root;

	meta_ctx_root(&root);
	for (;;) {
		struct rs_entry *e;
		const char *name;
		uint64_t dst;
		int r, go;

		pthread_mutex_lock(&j->mu);
		e = j->next < j->n ? &j->v[j->next++] : NULL;
		pthread_mutex_unlock(&j->mu);
		if (!e)
			break;
		if (rs_parse(e->name, &dst, &name)) {
			log_warn("restore %s: invalid trash entry", e->name);
			pthread_mutex_lock(&j->mu);
			j->failed++;
			pthread_mutex_unlock(&j->mu);
			continue;
		}
		go = j->put_back ||
		     bsearch(&dst, j->dirs, j->ndirs, sizeof(*j->dirs), cmp_u64) != NULL;
		r = go ? meta_rename(j->m, &root, j->hour, e->name, dst, name,
				     META_RENAME_NOREPLACE | META_RENAME_RESTORE, NULL, NULL)
		       : 0;
		if (r == -EEXIST)
			log_warn("restore %s: target already exists", e->name);
		else if (r)
			log_warn("restore %s: %s", e->name, strerror(-r));
		pthread_mutex_lock(&j->mu);
		if (!go)
			j->skipped++;
		else if (!r)
			j->done++;
		else if (r == -EEXIST)
			j->conflicts++;
		else
			j->failed++;
		pthread_mutex_unlock(&j->mu);
	}
	return NULL;
}

static int restore_hour(struct meta *m, const char *hour, int put_back, int threads)
{
	struct meta_ctx root;
	struct meta_attr a;
	struct rs_job j;
	pthread_t th[64];
	int r, nth = 0;

	meta_ctx_root(&root);
	log_info("restore files in \"%s\" ...", hour);
	memset(&j, 0, sizeof(j));
	j.m = m;
	j.put_back = put_back;
	r = meta_lookup(m, &root, META_TRASH_INODE, hour, &j.hour, &a);
	if (!r && a.type != META_TYPE_DIRECTORY)
		r = -ENOTDIR;
	if (r) {
		log_error("lookup \"%s\": %s", hour, strerror(-r));
		return r;
	}
	if ((r = meta_readdir(m, &root, j.hour, 0, NULL, 0, rs_collect, &j))) {
		log_error("list \"%s\": %s", hour, strerror(-r));
		goto out;
	}
	if (!put_back) {
		j.dirs = xcalloc(j.n + 1, sizeof(*j.dirs));
		for (size_t i = 0; i < j.n; i++)
			if (j.v[i].type == META_TYPE_DIRECTORY)
				j.dirs[j.ndirs++] = j.v[i].ino;
		qsort(j.dirs, j.ndirs, sizeof(*j.dirs), cmp_u64);
	}
	pthread_mutex_init(&j.mu, NULL);
	if (threads < 1)
		threads = 1;
	if (threads > (int)ARRAY_SIZE(th))
		threads = (int)ARRAY_SIZE(th);
	for (; nth < threads; nth++)
		if (pthread_create(&th[nth], NULL, rs_worker, &j))
			break;
	if (!nth)
		rs_worker(&j);
	while (nth > 0)
		pthread_join(th[--nth], NULL);
	pthread_mutex_destroy(&j.mu);
	if (put_back)
		log_info("%s: restored %llu, conflicts %llu, failed %llu", hour,
			 (unsigned long long)j.done, (unsigned long long)j.conflicts,
			 (unsigned long long)j.failed);
	else
		log_info("%s: rebuilt %llu, need-put-back %llu, conflicts %llu, failed %llu", hour,
			 (unsigned long long)j.done, (unsigned long long)j.skipped,
			 (unsigned long long)j.conflicts, (unsigned long long)j.failed);
out:
	for (size_t i = 0; i < j.n; i++)
		free(j.v[i].name);
	free(j.v);
	free(j.dirs);
	return r;
}

int cmd_restore(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct conf_format f = { 0 };
	struct meta *m = NULL;
	int ret = 1, r, put_back, threads, missing = 0;

	r = cmd_parse(&cmd_restore_conf, argc, argv, &p);
	if (r) {
		conf_parsed_release(&p);
		return r > 0 ? 0 : 1;
	}
	put_back = conf_get(&cmd_restore_conf, &p, "put-back")->i != 0;
	threads = (int)conf_get(&cmd_restore_conf, &p, "threads")->i;
	if (geteuid() != 0) {
		cmd_fatal("only root can restore files from trash");
		goto out;
	}
	if (cmd_open_meta(p.args[0], 0, &m) || cmd_load_format(m, p.args[0], &f))
		goto out;
	for (int i = 1; i < p.nargs; i++)
		if (restore_hour(m, p.args[i], put_back, threads))
			missing++;
	ret = missing ? 1 : 0;
out:
	conf_format_release(&f);
	meta_close(m);
	conf_parsed_release(&p);
	return ret;
}
