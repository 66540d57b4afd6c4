/* test_redis_cluster.c - Redis Cluster's slots, slot map and redirections (server/store/redis_cluster.h)
 * against Redis's own vectors. The real cluster's CLUSTER KEYSLOT checks a few thousand more keys in
 * tests/integration/test_cluster.py. */
#include "check.h"
#include "replies.h"

#include "store/redis_cluster.h"

#include <stdio.h>
#include <string.h>

static int slot_of(const char *key)
{
    return bk_cluster_key_slot(key, strlen(key));
}

static void test_crc16(void)
{
    /* Redis's src/crc16.c and the cluster specification (redis/redis-doc,
     * docs/reference/cluster-spec.md, "Key distribution model"): 'Output for "123456789": 31C3'. */
    CHECK(bk_cluster_crc16("123456789", 9) == 0x31C3, "crc16(\"123456789\") is 0x31C3 (%#x)",
          bk_cluster_crc16("123456789", 9));
    CHECK(bk_cluster_crc16("", 0) == 0, "crc16 of nothing is 0");
    CHECK(slot_of("123456789") == 0x31C3, "\"123456789\" is slot 12739 (its CRC below 16384)");
}

static void test_key_slots(void)
{
    static const struct {
        const char *key;
        int slot;
        const char *source;
    } vectors[] = {
        /* redis/redis-doc, commands/cluster-keyslot.md (the CLUSTER KEYSLOT examples) */
        { "somekey", 11058, "cluster-keyslot.md" },
        { "foo{hash_tag}", 2515, "cluster-keyslot.md" },
        { "bar{hash_tag}", 2515, "cluster-keyslot.md" },
        /* Redis's src/crc16_slottable.h: the shortest string for each slot (redis-benchmark's
         * keys for a given node); a few of its 16384 */
        { "06S", 0, "crc16_slottable.h" },
        { "Qi", 1, "crc16_slottable.h" },
        { "5L5", 2, "crc16_slottable.h" },
        { "9Le", 12182, "crc16_slottable.h" },
        { "6ZJ", 16383, "crc16_slottable.h" },
        /* a KEYSLOT test in the style of Redis's Tcl suite (tags "cluster_cmds"), as found in a
         * public copy; each value checked here against Redis 7.0's CLUSTER KEYSLOT */
        { "a", 15495, "KEYSLOT test" },
        { "{a}b", 15495, "KEYSLOT test" },
        { "{a", 10276, "KEYSLOT test" },
        { "{{a}b", 10276, "KEYSLOT test" },
        { "{b{a}c}d", 7471, "KEYSLOT test" },
        { "b{a", 7471, "KEYSLOT test" },
        /* redis-cli's cluster tests (tests/unit/cluster/cli.tcl) use "foo"; its slot as a real
         * Redis 7.0 answers CLUSTER KEYSLOT foo */
        { "foo", 12182, "CLUSTER KEYSLOT foo" },
        { "", 0, "the empty key" },
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
        CHECK(slot_of(vectors[i].key) == vectors[i].slot, "\"%s\" is slot %d (%s; got %d)", vectors[i].key,
              vectors[i].slot, vectors[i].source, slot_of(vectors[i].key));
}

/* The cluster specification's "Hash tags" examples (redis/redis-doc, docs/reference/cluster-spec.md). */
static void test_hash_tags(void)
{
    CHECK(slot_of("{user1000}.following") == slot_of("{user1000}.followers"),
          "{user1000}.following and {user1000}.followers share a slot");
    CHECK(slot_of("{user1000}.following") == slot_of("user1000"), "... the slot of user1000");
    CHECK(slot_of("foo{}{bar}") == (bk_cluster_crc16("foo{}{bar}", 10) & 16383) && slot_of("foo{}{bar}") != slot_of("bar"),
          "foo{}{bar} hashes the whole key (the first tag is empty)");
    CHECK(slot_of("foo{{bar}}zap") == slot_of("{bar"), "foo{{bar}}zap hashes \"{bar\"");
    CHECK(slot_of("foo{bar}{zap}") == slot_of("bar"), "foo{bar}{zap} hashes \"bar\" (the first tag only)");
    CHECK(slot_of("{}foo") == (bk_cluster_crc16("{}foo", 5) & 16383), "a key starting with {} hashes whole");
    CHECK(slot_of("foo}bar{") == (bk_cluster_crc16("foo}bar{", 8) & 16383), "a '}' before the '{' is no tag");
    /* bytes, not text: a NUL and high bytes inside the tag */
    const char binary[] = { 'x', '{', 0, (char)0xff, '}', 'y' };
    const char tag[] = { 0, (char)0xff };
    CHECK(bk_cluster_key_slot(binary, sizeof binary) == bk_cluster_key_slot(tag, sizeof tag),
          "a tag of binary bytes (NUL, 0xff) is hashed by its bytes");
}

/* ---- CLUSTER SLOTS ---------------------------------------------------------------------- */

static redisReply *node_reply(const char *host, long long port, const char *id)
{
    /* Redis 7: {endpoint, port, id, {other endpoints as name, value}} */
    return array(4, host ? str(host) : nil(), integer(port), str(id), array(2, str("hostname"), str("n")));
}

static void test_map(void)
{
    /* Three masters with a replica each, as redis-cli --cluster create makes them. */
    redisReply *reply = array(3,
        array(4, integer(0), integer(5460), node_reply("127.0.0.1", 30001, "a"), node_reply("127.0.0.1", 30004, "d")),
        array(4, integer(10923), integer(16383), node_reply("127.0.0.1", 30003, "c"),
              node_reply("127.0.0.1", 30006, "f")),
        array(3, integer(5461), integer(10922), node_reply("::1", 30002, "b")));
    bk_cluster_map map;
    char err[128] = "";
    CHECK(bk_cluster_map_parse(reply, "seed", &map, err, sizeof err) == 0, "a CLUSTER SLOTS reply is read (%s)", err);
    CHECK(map.node_count == 5 && map.range_count == 3, "5 nodes, 3 ranges");
    int a = bk_cluster_map_master(&map, 0), b = bk_cluster_map_master(&map, 5461), c = bk_cluster_map_master(&map, 16383);
    CHECK(a >= 0 && strcmp(map.nodes[a].host, "127.0.0.1") == 0 && map.nodes[a].port == 30001 && map.nodes[a].master,
          "slot 0 is 127.0.0.1:30001's");
    CHECK(b >= 0 && strcmp(map.nodes[b].host, "::1") == 0 && map.nodes[b].port == 30002, "slot 5461 is [::1]:30002's");
    CHECK(c >= 0 && map.nodes[c].port == 30003, "slot 16383 is 30003's");
    CHECK(bk_cluster_map_master(&map, 5460) == a && bk_cluster_map_master(&map, 10922) == b &&
          bk_cluster_map_master(&map, 10923) == c, "range ends belong to their ranges (sorted, whatever the order)");
    int replicas = 0;
    for (size_t i = 0; i < map.node_count; i++)
        replicas += !map.nodes[i].master;
    CHECK(replicas == 2, "replicas are known, as replicas");
    bk_cluster_map_release(&map);
    release(reply);

    /* unknown endpoints: nil or "" is where we asked; "?" cannot be reached */
    reply = array(3, array(3, integer(0), integer(99), node_reply(NULL, 7000, "a")),
                  array(3, integer(100), integer(199), node_reply("", 7001, "b")),
                  array(3, integer(200), integer(299), node_reply("?", 7002, "c")));
    CHECK(bk_cluster_map_parse(reply, "10.0.0.5", &map, err, sizeof err) == 0, "unknown endpoints are read");
    a = bk_cluster_map_master(&map, 50);
    b = bk_cluster_map_master(&map, 150);
    CHECK(a >= 0 && strcmp(map.nodes[a].host, "10.0.0.5") == 0 && map.nodes[a].port == 7000,
          "a nil endpoint is the host we asked");
    CHECK(b >= 0 && strcmp(map.nodes[b].host, "10.0.0.5") == 0 && map.nodes[b].port == 7001,
          "an empty endpoint is the host we asked");
    CHECK(bk_cluster_map_master(&map, 250) == -1 && bk_cluster_map_master(&map, 300) == -1,
          "a \"?\" master's slots and slots nobody serves have no master");
    bk_cluster_map_release(&map);
    release(reply);

    /* older nodes without an id, or without the endpoints map */
    reply = array(1, array(3, integer(0), integer(16383), array(2, str("h1"), integer(6379))));
    CHECK(bk_cluster_map_parse(reply, NULL, &map, err, sizeof err) == 0 && bk_cluster_map_master(&map, 9000) == 0,
          "a node of just {endpoint, port} is read");
    bk_cluster_map_release(&map);
    release(reply);

    reply = array(0);
    CHECK(bk_cluster_map_parse(reply, NULL, &map, err, sizeof err) == 0 && map.range_count == 0 &&
          bk_cluster_map_master(&map, 0) == -1, "an empty map (a cluster not yet made) serves no slot");
    bk_cluster_map_release(&map);
    release(reply);

    redisReply *bad[] = {
        NULL,
        error_of("ERR This instance has cluster support disabled"),
        str("0-16383"),
        array(1, array(2, integer(0), integer(16383))),                                      /* no master */
        array(1, array(3, integer(-1), integer(10), node_reply("h", 1, "a"))),               /* slot < 0 */
        array(1, array(3, integer(0), integer(16384), node_reply("h", 1, "a"))),             /* slot > 16383 */
        array(1, array(3, integer(10), integer(5), node_reply("h", 1, "a"))),                /* first > last */
        array(1, array(3, integer(0), integer(5), node_reply("h", 0, "a"))),                 /* port 0 */
        array(1, array(3, integer(0), integer(5), node_reply("h", 65536, "a"))),             /* port too big */
        array(1, array(3, integer(0), integer(5), node_reply("bad host", 1, "a"))),          /* a space */
        array(1, array(3, integer(0), integer(5), array(2, integer(1), integer(2)))),        /* endpoint no string */
        array(1, array(3, str("0"), integer(5), node_reply("h", 1, "a"))),                   /* slot as string */
        array(2, array(3, integer(0), integer(10), node_reply("h", 1, "a")),
              array(3, integer(10), integer(20), node_reply("i", 1, "b"))),                  /* overlap */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(bk_cluster_map_parse(bad[i], "seed", &map, err, sizeof err) == -1 && map.nodes == NULL && err[0],
              "bad CLUSTER SLOTS reply %zu is refused (%s)", i, err);
        release(bad[i]);
    }
    char long_host[300];
    memset(long_host, 'h', sizeof long_host - 1);
    long_host[sizeof long_host - 1] = '\0';
    reply = array(1, array(3, integer(0), integer(5), node_reply(long_host, 1, "a")));
    CHECK(bk_cluster_map_parse(reply, "seed", &map, err, sizeof err) == -1, "a host too long is refused");
    release(reply);
}

/* ---- redirections ---------------------------------------------------------------------- */

static void test_errors(void)
{
    static const struct {
        const char *error;
        bk_cluster_error kind;
        int slot;
        const char *host;
        int port;
    } cases[] = {
        /* the cluster specification's examples ("MOVED Redirection", "ASK redirection") */
        { "MOVED 3999 127.0.0.1:6381", BK_CLUSTER_MOVED, 3999, "127.0.0.1", 6381 },
        { "ASK 3999 127.0.0.1:6381", BK_CLUSTER_ASK, 3999, "127.0.0.1", 6381 },
        { "MOVED 3999 :6380", BK_CLUSTER_MOVED, 3999, "asked", 6380 },
        /* Redis writes "%s:%d" whatever the address: an IPv6 one has no brackets */
        { "MOVED 0 ::1:6381", BK_CLUSTER_MOVED, 0, "::1", 6381 },
        { "ASK 16383 2001:db8::7:30001", BK_CLUSTER_ASK, 16383, "2001:db8::7", 30001 },
        { "MOVED 12 [::1]:6381", BK_CLUSTER_MOVED, 12, "::1", 6381 },
        { "MOVED 12 ::ffff:10.0.0.1:7000", BK_CLUSTER_MOVED, 12, "::ffff:10.0.0.1", 7000 },
        { "MOVED 12182 redis-2.example.internal:6379", BK_CLUSTER_MOVED, 12182, "redis-2.example.internal", 6379 },
        { "TRYAGAIN Multiple keys request during rehashing of slot", BK_CLUSTER_TRYAGAIN, 0, NULL, 0 },
        { "CLUSTERDOWN The cluster is down", BK_CLUSTER_DOWN, 0, NULL, 0 },
        { "CLUSTERDOWN Hash slot not served", BK_CLUSTER_DOWN, 0, NULL, 0 },
        /* a node our map names wrongly since a failover, refusing before anything is written */
        { "READONLY You can't write against a read only replica.", BK_CLUSTER_STALE, 0, NULL, 0 },
        { "ERR Script attempted to access a non local key in a cluster node script: f_1234, on @user_script:1.",
          BK_CLUSTER_STALE, 0, NULL, 0 },
        { "ERR Error running script: attempt to compare nil", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "READONLYX", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        /* refused: not a redirection to somewhere made up */
        { "MOVED 16384 127.0.0.1:6381", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED -1 127.0.0.1:6381", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 123456 h:1", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999 ", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999 127.0.0.1", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999 127.0.0.1:", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999 127.0.0.1:0", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999 127.0.0.1:65536", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999 127.0.0.1:6381 extra", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999 127.0.0.1:63a1", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999  127.0.0.1:6381", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED x 127.0.0.1:6381", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999 bad/host:6381", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999 :1:6381", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVED 3999 ::g:6381", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "MOVEDX 3999 h:1", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "moved 3999 h:1", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "TRYAGAINX", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "ERR unknown command", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "NOSCRIPT No matching script", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "not_found no such rule", BK_CLUSTER_ANSWER, 0, NULL, 0 },
        { "", BK_CLUSTER_ANSWER, 0, NULL, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bk_cluster_redirect r;
        memset(&r, 0, sizeof r);
        bk_cluster_error kind = bk_cluster_error_parse(cases[i].error, "asked", &r);
        int ok = kind == cases[i].kind;
        if (ok && cases[i].host)
            ok = r.slot == cases[i].slot && strcmp(r.host, cases[i].host) == 0 && r.port == cases[i].port;
        CHECK(ok, "\"%s\" is %d (%s:%d slot %d)", cases[i].error, (int)kind, r.host, r.port, r.slot);
    }
    bk_cluster_redirect r;
    CHECK(bk_cluster_error_parse(NULL, "asked", &r) == BK_CLUSTER_ANSWER, "no error text is no redirection");
    CHECK(bk_cluster_error_parse("MOVED 1 :6380", NULL, &r) == BK_CLUSTER_ANSWER,
          "an empty endpoint with no host asked is refused");
    char long_host[400] = "MOVED 1 ";
    memset(long_host + 8, 'h', 300);
    strcpy(long_host + 308, ":1");
    CHECK(bk_cluster_error_parse(long_host, "asked", &r) == BK_CLUSTER_ANSWER, "a host too long is refused");
}

static void test_steps(void)
{
    bk_cluster_step s = bk_cluster_step_for(BK_CLUSTER_MOVED, 0);
    CHECK(s.resend && s.remap && s.refresh && !s.asking && !s.delay_ms,
          "MOVED: remap the slot, send there, fetch the whole map");
    s = bk_cluster_step_for(BK_CLUSTER_ASK, 0);
    CHECK(s.resend && s.asking && !s.remap && !s.refresh, "ASK: ASKING then the command to that node, no map change");
    s = bk_cluster_step_for(BK_CLUSTER_TRYAGAIN, 1);
    CHECK(s.resend && s.delay_ms == BK_CLUSTER_TRYAGAIN_MS && !s.remap && !s.refresh, "TRYAGAIN: again, a little later");
    s = bk_cluster_step_for(BK_CLUSTER_DOWN, 0);
    CHECK(!s.resend && s.refresh, "CLUSTERDOWN: the caller is told (unavailable), the map fetched again");
    s = bk_cluster_step_for(BK_CLUSTER_STALE, 0);
    CHECK(s.resend && s.refresh && s.delay_ms == BK_CLUSTER_STALE_MS && !s.remap && !s.asking,
          "a node no longer master: fetch the map, then again by it");
    s = bk_cluster_step_for(BK_CLUSTER_STALE, BK_CLUSTER_RESENDS_MAX);
    CHECK(!s.resend && s.refresh, "no longer master after too many resends: answered, the map fetched again");
    s = bk_cluster_step_for(BK_CLUSTER_ANSWER, 0);
    CHECK(!s.resend && !s.refresh && !s.remap, "any other error is the caller's answer");
    s = bk_cluster_step_for(BK_CLUSTER_MOVED, BK_CLUSTER_RESENDS_MAX);
    CHECK(!s.resend && s.remap && s.refresh, "MOVED after too many resends: answered, the map still fixed");
    s = bk_cluster_step_for(BK_CLUSTER_ASK, BK_CLUSTER_RESENDS_MAX);
    CHECK(!s.resend && !s.asking, "ASK after too many resends: answered");
    s = bk_cluster_step_for(BK_CLUSTER_TRYAGAIN, BK_CLUSTER_RESENDS_MAX);
    CHECK(!s.resend && !s.delay_ms, "TRYAGAIN after too many resends: answered");
}

int main(void)
{
    test_crc16();
    test_key_slots();
    test_hash_tags();
    test_map();
    test_errors();
    test_steps();
    return check_done();
}
