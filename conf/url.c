/*
 * Meta URL parsing (spec §13.1), pure text work with no I/O.
 *
 * The rules follow what JuiceFS hands to Go's url.Parse, because users copy
 * URLs between the two clients: no scheme means redis://; the authority ends
 * at the first '/', the user info at the last '@' of it (so a password may
 * contain '@'), user and password are percent-decoded, and the query starts
 * at the first '?'. Schemes JuiceFS knows but we do not implement still parse,
 * so the dispatcher can refuse them by name instead of calling them garbage.
 */
#include "conf/conf.h"

#include <ctype.h>

/* Every driver JuiceFS 1.x registers, plus our own in-memory test engine. */
static const char *const known_schemes[] = {
	"redis", "rediss", "unix", "sqlite3", "mem", "mysql",
	"postgres", "tikv", "etcd", "fdb", "badger", "memkv",
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n); plus_space: '+' means ' ' (query syntax). */
static int pct_decode(const char *s, size_t n, int plus_space, char **out, struct buf *err)
{
	char *d = xmalloc(n + 1), *p = d;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
			/* %00 would cut the C string short: refuse it rather than truncate. */
			if (hi >= 0 && lo >= 0 && (hi | lo)) {
				*p++ = (char)(hi << 4 | lo);
				i += 2;
				continue;
			}
			buf_addf(err, "invalid URL escape \"%.*s\"", (int)MIN(3, n - i), s + i);
			free(d);
			return -EINVAL;
		}
		*p++ = plus_space && s[i] == '+' ? ' ' : s[i];
	}
	*p = 0;
	*out = d;
	return 0;
}

static int parse_query(const char *q, struct conf_meta_url *u, struct buf *err)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		if (n) {
			const char *eq = memchr(q, '=', n);
			size_t kl = eq ? (size_t)(eq - q) : n;
			char *k, *v;
			int r = pct_decode(q, kl, 1, &k, err);
			if (r)
				return r;
			r = eq ? pct_decode(eq + 1, n - kl - 1, 1, &v, err) : (v = xstrdup(""), 0);
			if (r) {
				free(k);
				return r;
			}
			u->query = xrealloc(u->query, (u->nquery + 1) * sizeof(*u->query));
			u->query[u->nquery].key = k;
			u->query[u->nquery].val = v;
			u->nquery++;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return 0;
}

/* Split "[userinfo@]hosts" (already cut at the first '/'); fills user/password/hosts. */
static int split_authority(const char *a, size_t n, struct conf_meta_url *u, struct buf *err)
{
	const char *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (a[i] == '@')
			at = a + i;
	if (at) {
		size_t ul = (size_t)(at - a);
		const char *colon = memchr(a, ':', ul);
		size_t nl = colon ? (size_t)(colon - a) : ul;
		int r = pct_decode(a, nl, 0, &u->user, err);
		if (r)
			return r;
		if (colon && (r = pct_decode(colon + 1, ul - nl - 1, 0, &u->password, err)))
			return r;
		n -= ul + 1;
		a = at + 1;
	}
	u->hosts = xstrndup(a, n);
	return 0;
}

/* Each comma-separated host may carry ":port" ("[v6]:port" for IPv6). */
static int check_ports(const char *hosts, struct buf *err)
{
	const char *h = hosts;
	while (*h) {
		size_t n = strcspn(h, ",");
		const char *end = h + n, *port = NULL;
		if (*h == '[') {
			const char *rb = memchr(h, ']', n);
			if (!rb || (rb + 1 < end && rb[1] != ':')) {
				buf_addf(err, "invalid host \"%.*s\" in meta URL", (int)n, h);
				return -EINVAL;
			}
			if (rb + 1 < end)
				port = rb + 2;
		} else {
			for (const char *c = h; c < end; c++)
				if (*c == ':')
					port = c + 1;
		}
		if (port) {
			unsigned v = 0;
			int ok = end - port <= 5;
			for (const char *c = port; ok && c < end; c++) {
				ok = *c >= '0' && *c <= '9';
				v = v * 10 + (unsigned)(ok ? *c - '0' : 0);
			}
			if (!ok || v > 65535) {
				buf_addf(err, "invalid port \":%.*s\" after host in meta URL",
					 (int)(end - port), port);
				return -EINVAL;
			}
		}
		h = *end ? end + 1 : end;
	}
	return 0;
}

static int all_digits(const char *s)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

int conf_parse_meta_url(const char *url, struct conf_meta_url *out, struct buf *err)
{
	struct conf_meta_url u = { 0 };
	const char *rest, *sep, *q;
	int r = -EINVAL;

	if (!url || !*url) {
		buf_adds(err, "empty meta URL");
		goto out;
	}
	u.raw = xstrdup(url);
	sep = strstr(url, "://");
	if (sep) {
		size_t i, n = (size_t)(sep - url);
		if (!n) {
			buf_addf(err, "invalid meta URL \"%s\": missing scheme", url);
			goto out;
		}
		u.scheme = xstrndup(url, n);
		for (i = 0; i < n; i++)
			u.scheme[i] = (char)tolower((unsigned char)u.scheme[i]);
		for (i = 0; i < ARRAY_SIZE(known_schemes); i++)
			if (!strcmp(u.scheme, known_schemes[i]))
				break;
		if (i == ARRAY_SIZE(known_schemes)) {
			buf_addf(err, "invalid meta driver: %s", u.scheme);
			goto out;
		}
		rest = sep + 3;
	} else {
		u.scheme = xstrdup("redis"); /* JuiceFS's rule for a bare address */
		rest = url;
	}

	q = strchr(rest, '?');
	size_t blen = q ? (size_t)(q - rest) : strlen(rest);
	if (q && (r = parse_query(q + 1, &u, err)))
		goto out;
	r = -EINVAL;

	const char *slash = memchr(rest, '/', blen);
	size_t alen = slash ? (size_t)(slash - rest) : blen;

	if (!strcmp(u.scheme, "sqlite3") || !strcmp(u.scheme, "mem")) {
		u.path = xstrndup(rest, blen);
		if (!*u.path && !strcmp(u.scheme, "sqlite3")) {
			buf_addf(err, "invalid meta URL \"%s\": missing database file", url);
			goto out;
		}
		u.db = xstrdup("");
	} else if (!strcmp(u.scheme, "redis") || !strcmp(u.scheme, "rediss")) {
		if ((r = split_authority(rest, alen, &u, err)) || (r = check_ports(u.hosts, err)))
			goto out;
		r = -EINVAL;
		u.db = xstrndup(slash ? slash + 1 : "", slash ? blen - alen - 1 : 0);
		if (!all_digits(u.db) || strlen(u.db) > 9) {
			buf_addf(err, "invalid redis database number \"%s\" in meta URL", u.db);
			goto out;
		}
		u.path = xstrdup("");
	} else if (!strcmp(u.scheme, "unix")) {
		if ((r = split_authority(rest, alen, &u, err)))
			goto out;
		r = -EINVAL;
		u.path = xstrndup(slash ? slash : "", slash ? blen - alen : 0);
		if (!*u.path) {
			buf_addf(err, "invalid meta URL \"%s\": missing socket path", url);
			goto out;
		}
		const char *db = conf_url_query(&u, "db");
		u.db = xstrdup(db ? db : "");
		if (!all_digits(u.db) || strlen(u.db) > 9) {
			buf_addf(err, "invalid redis database number \"%s\" in meta URL", u.db);
			goto out;
		}
	} else {
		/* Known, not implemented here: keep the pieces for messages. */
		if ((r = split_authority(rest, alen, &u, err)))
			goto out;
		u.path = xstrndup(slash ? slash : "", slash ? blen - alen : 0);
		u.db = xstrdup("");
	}
	if (!u.user)
		u.user = xstrdup("");
	if (!u.password)
		u.password = xstrdup("");
	if (!u.hosts)
		u.hosts = xstrdup("");
	r = 0;
out:
	if (r)
		conf_meta_url_release(&u);
	*out = u;
	return r;
}

const char *conf_url_query(const struct conf_meta_url *u, const char *key)
{
	for (size_t i = 0; i < u->nquery; i++)
		if (!strcmp(u->query[i].key, key))
			return u->query[i].val;
	return NULL;
}

void conf_meta_url_release(struct conf_meta_url *u)
{
	if (!u)
		return;
	free(u->raw);
	free(u->scheme);
	free(u->path);
	free(u->user);
	free(u->password);
	free(u->hosts);
	free(u->db);
	for (size_t i = 0; i < u->nquery; i++) {
		free(u->query[i].key);
		free(u->query[i].val);
	}
	free(u->query);
	memset(u, 0, sizeof(*u));
}

char *conf_redact_url(const char *url)
{
	const char *start, *sep, *at = NULL, *colon;
	size_t n;

	if (!url)
		return xstrdup("");
	sep = strstr(url, "://");
	start = sep ? sep + 3 : url;
	/*
	 * The user info ends at the last '@' of the authority, which ends at the
	 * first '/' or '?', as conf_parse_meta_url reads it: an '@' further on
	 * belongs to a path or query (sqlite3:///a@b.db, unix://:pw@/a@b.sock).
	 */
	n = strcspn(start, "/?");
	for (size_t i = 0; i < n; i++)
		if (start[i] == '@')
			at = start + i;
	if (!at)
		return xstrdup(url);
	colon = memchr(start, ':', (size_t)(at - start));
	if (!colon || colon + 1 == at)
		return xstrdup(url);
	return xasprintf("%.*s****%s", (int)(colon + 1 - url), url, at);
}
