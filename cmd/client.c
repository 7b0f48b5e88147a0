/*
 * The client options shared by every command that serves a volume (gateway,
 * webdav, mount): one reading of them into a struct fs_conf, so the three
 * doors cannot drift apart in names, defaults or validation.
 */
#include "cmd/cmd.h"

#include "fscore/fs.h"

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
	return 0;
}
