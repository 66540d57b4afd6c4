/* keys.h - where a key lives in Redis (Cluster): the hash tag of a site and of an id, and the
 * prefixes of the two kinds of keys. The one place that knows the layout; nothing mirrors it.
 *
 * Redis Cluster runs a script only if every key it touches hashes to one slot, so every key
 * carries a hash tag ("{...}") and every script stays inside one tag:
 *   site keys    PREFIX{TAG}:name...  everything about a site's visitors and conversations
 *                                     (TAG: 4 hex digits of SHA-256 of the site id);
 *   global keys  PREFIX{g}:name...    accounts, sessions, rules, canned responses, the list of
 *                                     sites, presence ("g" is no hex digit: never a site's tag).
 * Visitor and conversation ids carry their site's tag ("v_TAG_RANDOM"), so any node finds the
 * slot of an id from the id alone, without a lookup. */
#ifndef BK_KEYS_H
#define BK_KEYS_H

#include <stddef.h>

#define BK_KEYS_TAG_LEN 4
/* A prefix of ours: the configured prefix (< 32 bytes) and "{TAG}:". */
#define BK_KEYS_PREFIX_SIZE (32 + BK_KEYS_TAG_LEN + 3)

/* The tag of a site id: 4 lowercase hex digits of its SHA-256. The development mode without
 * sites is the site "". Two sites may share a tag (and so a slot): keys still name the site. */
void bk_keys_site_tag(const char *site, char tag[BK_KEYS_TAG_LEN + 1]);

/* The tag an id carries ("v_1a2b_..." -> "1a2b"). 0, or -1 (tag "") for an id of no tag: a
 * malformed one, or one made before ids had tags. */
int bk_keys_id_tag(const char *id, char tag[BK_KEYS_TAG_LEN + 1]);

/* True when the id carries this tag. */
int bk_keys_id_has_tag(const char *id, const char *tag);

/* A new id: kind ("v_", "c_", "i_") + tag + "_" + 24 random hex digits. 0, or -1. */
int bk_keys_id_generate(const char *kind, const char *tag, char *out, size_t out_size);

/* "PREFIX{TAG}:", the prefix every script of that slot gets as ARGV[1]. */
void bk_keys_site_prefix(const char *prefix, const char *tag, char out[BK_KEYS_PREFIX_SIZE]);
/* The prefix of the slot of a site id, and of an id (an id of no tag: the slot of site ""). */
void bk_keys_prefix_of_site(const char *prefix, const char *site, char out[BK_KEYS_PREFIX_SIZE]);
void bk_keys_prefix_of_id(const char *prefix, const char *id, char out[BK_KEYS_PREFIX_SIZE]);
/* "PREFIX{g}:": accounts, sessions, rules, canned responses, the sites, presence. */
void bk_keys_global_prefix(const char *prefix, char out[BK_KEYS_PREFIX_SIZE]);

#endif
