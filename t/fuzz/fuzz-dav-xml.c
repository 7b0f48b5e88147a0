/*
 * fuzz-dav-xml: the XML request bodies of the WebDAV server, each input
 * given to every parser: PROPFIND (dav_parse_propfind), PROPPATCH
 * (dav_parse_proppatch) and LOCK (dav_parse_lockinfo). A dead property set
 * by PROPPATCH and a lock's owner are kept as XML text and later pasted into
 * 207 and LOCK answers, so that text must itself parse as XML.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/dav_proto.h"

/* The kept element, wrapped in a body of its own, must parse again. */
static void check_fragment(const char *frag)
{
	static const char head[] = "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop>";
	static const char tail[] = "</D:prop></D:set></D:propertyupdate>";
	struct dav_proppatch pp;
	struct buf b = BUF_INIT;

	buf_adds(&b, head);
	buf_adds(&b, frag);
	buf_adds(&b, tail);
	FUZZ_CHECK(!dav_parse_proppatch(b.ptr, b.len, &pp));
	FUZZ_CHECK(pp.nops == 1);
	dav_proppatch_release(&pp);
	buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct dav_propfind pf;
	struct dav_proppatch pp;
	struct dav_lockinfo li;

	if (!dav_parse_propfind(body, size, &pf)) {
		FUZZ_CHECK(pf.mode == DAV_PF_ALLPROP || pf.mode == DAV_PF_PROPNAME ||
			   pf.mode == DAV_PF_PROP);
		for (size_t i = 0; i < pf.nprops; i++)
			FUZZ_CHECK(pf.props[i].ns && pf.props[i].name && *pf.props[i].name);
		dav_propfind_release(&pf);
	}
	FUZZ_CHECK(!pf.props && !pf.nprops);

	if (!dav_parse_proppatch(body, size, &pp)) {
		FUZZ_CHECK(pp.nops > 0);
		for (size_t i = 0; i < pp.nops; i++) {
			FUZZ_CHECK(pp.ops[i].p.ns && pp.ops[i].p.name);
			FUZZ_CHECK(pp.ops[i].remove ? !pp.ops[i].xml : pp.ops[i].xml != NULL);
			if (pp.ops[i].xml)
				check_fragment(pp.ops[i].xml);
		}
		dav_proppatch_release(&pp);
	}
	FUZZ_CHECK(!pp.ops && !pp.nops);

	if (!dav_parse_lockinfo(body, size, &li)) {
		FUZZ_CHECK(li.exclusive == 0 || li.exclusive == 1);
		if (li.owner)
			check_fragment(li.owner);
		dav_lockinfo_release(&li);
	}
	FUZZ_CHECK(!li.owner);
	return 0;
}
