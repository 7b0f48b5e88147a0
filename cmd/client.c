/*
 * The client options shared by every command that serves a volume (gateway,
 * webdav, mount): one reading of them into a struct fs_conf, so the three
 * doors cannot drift apart in names, defaults or validation.
 */
#include "cmd/cmd.h"

#include "fscore/fs.h"
#include "base/metrics.h"

int cmd_client_conf(const struct conf_cmd *cmd, const struct conf_parsed *p,
		    const char *mount_point, struct fs_conf *fc)
{
	const char *ratio_text = conf_get(cmd, p, "free-space-ratio")->str;
	char *end;
	double ratio;

	fs_conf_defaults(fc);
	fc->meta.read_only = (int)conf_get(cmd, p, "read-only")->i;
	fc->meta.no_bgjob = fc->no_bgjob = (int)conf_get(cmd, p, "no-bgjob")->i;
	fc->meta.heartbeat_ms = conf_get(cmd, p, "heartbeat")->i;
	fc->meta.mount_point = mount_point;
	fc->io_retries = (int)conf_get(cmd, p, "io-retries")->i;
	fc->max_uploads = (int)conf_get(cmd, p, "max-uploads")->i;
	fc->max_downloads = (int)conf_get(cmd, p, "max-downloads")->i;
	fc->prefetch = (int)conf_get(cmd, p, "prefetch")->i;
	fc->buffer_size = conf_get(cmd, p, "buffer-size")->u;
	fc->cache_dir = conf_get(cmd, p, "cache-dir")->str;
	fc->cache_size = conf_get(cmd, p, "cache-size")->u;
	fc->writeback = (int)conf_get(cmd, p, "writeback")->i;
	fc->upload_delay_ms = conf_get(cmd, p, "upload-delay")->i;
	if (fc->upload_delay_ms && !fc->writeback) {
		/* as JuiceFS: there is nothing to delay without staging */
		log_warn("delayed upload is disabled in non-writeback mode");
		fc->upload_delay_ms = 0;
	}
	fc->storage = conf_get(cmd, p, "storage")->str;
	fc->bucket = conf_get(cmd, p, "bucket")->str;
	ratio = strtod(ratio_text, &end);
	if (end == ratio_text || *end || ratio < 0 || ratio >= 1) {
		cmd_fatal("invalid free-space-ratio \"%s\": want a number in [0, 1)", ratio_text);
		return -1;
	}
	fc->free_space_ratio = ratio;
	if (fc->max_uploads < 1 || fc->max_downloads < 1 || fc->prefetch < 0 ||
	    fc->io_retries < 0) {
		cmd_fatal("--max-uploads and --max-downloads must be positive, --prefetch and "
			  "--io-retries not negative");
		return -1;
	}
	/* JuiceFS stops on an address it cannot split; one it cannot bind is only logged */
	const char *ma = conf_get(cmd, p, "metrics")->str;
	const char *colon = ma ? strrchr(ma, ':') : NULL;
	uint32_t port;
	if (ma && *ma && (!colon || parse_u32(colon + 1, &port) || port > 65535)) {
		cmd_fatal("metrics format error \"%s\": %s", ma,
			  colon ? "invalid port" : "missing port in address");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ --metrics */

static struct {
	struct metric_family *used_space, *used_inodes, *total_space, *total_inodes;
} vm;

/* The volume's usage, read at each scrape as JuiceFS's UpdateMetrics does on its ticker. */
static void volume_collect(void *arg)
{
	struct meta_statfs sf;
	if (fs_statfs(arg, NULL, META_ROOT_INODE, &sf))
		return;
	metric_set(metric_get(vm.used_space), (double)(sf.total_space - sf.avail_space));
	metric_set(metric_get(vm.total_space), (double)sf.total_space);
	metric_set(metric_get(vm.used_inodes), (double)sf.used_inodes);
	metric_set(metric_get(vm.total_inodes), (double)(sf.used_inodes + sf.avail_inodes));
}

char *cmd_metrics_start(const struct conf_val *addr, struct fs *fs, const char *mp)
{
	struct buf bound = BUF_INIT;
	int r;

	metrics_set_common(fs_format(fs)->name, mp);
	vm.used_space = metric_family(METRIC_GAUGE, "juicefs_used_space",
				      "Total used space in bytes.", 1, NULL, NULL, 0);
	vm.total_space = metric_family(METRIC_GAUGE, "juicefs_total_space",
				       "Total space in bytes.", 1, NULL, NULL, 0);
	vm.used_inodes = metric_family(METRIC_GAUGE, "juicefs_used_inodes",
				       "Total used number of inodes.", 1, NULL, NULL, 0);
	vm.total_inodes = metric_family(METRIC_GAUGE, "juicefs_total_inodes",
					"Total number of inodes.", 1, NULL, NULL, 0);
	metrics_add_collector(volume_collect, fs);
	if (!addr || !addr->str || !*addr->str)
		return NULL;
	r = metrics_serve(addr->str, addr->set, &bound);
	if (r == -EINVAL)
		log_error("metrics format error \"%s\"", addr->str);
	else if (r)
		log_error("listen on %s for metrics failed: %s", addr->str, strerror(-r));
	else
		log_info("Prometheus metrics listening on %s", bound.ptr);
	if (r) {
		buf_release(&bound);
		return NULL;
	}
	return buf_detach(&bound, NULL);
}

void cmd_metrics_stop(struct fs *fs)
{
	metrics_stop();
	metrics_remove_collector(volume_collect, fs);
}
