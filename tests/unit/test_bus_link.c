/* test_bus_link.c - the bus link's reading of Redis's replies (server/store/bus_link.h,
 * bk_bus_reply_read): the bytes Redis 7 sends on a connection with sharded subscriptions (as
 * captured from redis-server 7.0), parsed by hiredis's own reader, then told apart: pushes,
 * confirmations, the PONG of either mode, answers, errors, and anything else as odd. */
#include "check.h"

#include "base/metrics.h"
#include "store/bus_link.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

/* One reply parsed from RESP bytes by hiredis's reader, as the link parses what it reads. */
static redisReply *parse(const char *bytes, size_t len)
{
    redisReader *reader = redisReaderCreate();
    void *reply = NULL;
    if (redisReaderFeed(reader, bytes, len) != REDIS_OK || redisReaderGetReply(reader, &reply) != REDIS_OK)
        reply = NULL;
    redisReaderFree(reader);
    return reply;
}

#define PARSE(literal) parse(literal, sizeof literal - 1)

static void read_one(const char *name, const char *bytes, size_t len, bk_bus_reply_kind kind,
                     const char *channel, const char *payload, size_t payload_len)
{
    redisReply *reply = parse(bytes, len);
    CHECK(reply != NULL, "%s: hiredis parses it", name);
    bk_bus_reply r;
    CHECK(bk_bus_reply_read(reply, &r) == kind && r.kind == kind, "%s: read as kind %d (got %d)", name, kind, r.kind);
    if (channel)
        CHECK(r.channel && r.channel_len == strlen(channel) && memcmp(r.channel, channel, r.channel_len) == 0,
              "%s: its channel is %s", name, channel);
    else
        CHECK(r.channel == NULL, "%s: no channel", name);
    if (payload)
        CHECK(r.payload && r.payload_len == payload_len && memcmp(r.payload, payload, payload_len) == 0,
              "%s: its payload, whole", name);
    else
        CHECK(r.payload == NULL, "%s: no payload", name);
    freeReplyObject(reply);
}

#define READ(name, literal, kind, channel, payload, payload_len) \
    read_one(name, literal, sizeof literal - 1, kind, channel, payload, payload_len)

int main(void)
{
    READ("a push", "*3\r\n$8\r\nsmessage\r\n$11\r\nbk:to:v:v_1\r\n$18\r\n- {\"type\":\"typing\"}\r\n",
         BK_BUS_REPLY_MESSAGE, "bk:to:v:v_1", "- {\"type\":\"typing\"}", 18);
    READ("a push whose payload holds spaces, CR LF and a NUL", "*3\r\n$8\r\nsmessage\r\n$9\r\nbk:to:a:x\r\n$7\r\n- a\r\n\0b\r\n",
         BK_BUS_REPLY_MESSAGE, "bk:to:a:x", "- a\r\n\0b", 7);
    READ("an empty payload", "*3\r\n$8\r\nsmessage\r\n$12\r\nbk:to:agents\r\n$0\r\n\r\n",
         BK_BUS_REPLY_MESSAGE, "bk:to:agents", "", 0);
    READ("SSUBSCRIBE's confirmation", "*3\r\n$10\r\nssubscribe\r\n$11\r\nbk:to:nodes\r\n:1\r\n",
         BK_BUS_REPLY_SUBSCRIBED, "bk:to:nodes", NULL, 0);
    READ("SUNSUBSCRIBE's confirmation, of a channel never subscribed", "*3\r\n$12\r\nsunsubscribe\r\n$2\r\nzz\r\n:0\r\n",
         BK_BUS_REPLY_UNSUBSCRIBED, "zz", NULL, 0);
    READ("PING while subscribed", "*2\r\n$4\r\npong\r\n$0\r\n\r\n", BK_BUS_REPLY_PONG, NULL, NULL, 0);
    READ("PING before any subscription", "+PONG\r\n", BK_BUS_REPLY_ANSWER, NULL, NULL, 0);
    READ("AUTH's or SELECT's answer", "+OK\r\n", BK_BUS_REPLY_ANSWER, NULL, NULL, 0);

    redisReply *error = PARSE("-LOADING Redis is loading the dataset in memory\r\n");
    bk_bus_reply r;
    CHECK(bk_bus_reply_read(error, &r) == BK_BUS_REPLY_ERROR && r.text && strncmp(r.text, "LOADING", 7) == 0,
          "an error: its text is Redis's");
    freeReplyObject(error);

    /* Odd: what this link never asks for, or shapes Redis does not send. */
    READ("a push of plain pub/sub (SUBSCRIBE is not ours)", "*3\r\n$7\r\nmessage\r\n$6\r\nbk:bus\r\n$1\r\nx\r\n",
         BK_BUS_REPLY_ODD, NULL, NULL, 0);
    READ("SUBSCRIBE's confirmation", "*3\r\n$9\r\nsubscribe\r\n$6\r\nbk:bus\r\n:1\r\n", BK_BUS_REPLY_ODD, NULL, NULL, 0);
    READ("a push one element short", "*2\r\n$8\r\nsmessage\r\n$6\r\nbk:bus\r\n", BK_BUS_REPLY_ODD, NULL, NULL, 0);
    READ("a push with a nil payload", "*3\r\n$8\r\nsmessage\r\n$6\r\nbk:bus\r\n$-1\r\n", BK_BUS_REPLY_ODD, NULL, NULL, 0);
    READ("a confirmation without its count", "*3\r\n$10\r\nssubscribe\r\n$1\r\na\r\n$1\r\n1\r\n", BK_BUS_REPLY_ODD, NULL,
         NULL, 0);
    READ("an array whose first element is a number", "*2\r\n:1\r\n$1\r\na\r\n", BK_BUS_REPLY_ODD, NULL, NULL, 0);
    READ("an empty array", "*0\r\n", BK_BUS_REPLY_ODD, NULL, NULL, 0);
    READ("an integer", ":3\r\n", BK_BUS_REPLY_ODD, NULL, NULL, 0);
    READ("a nil", "$-1\r\n", BK_BUS_REPLY_ODD, NULL, NULL, 0);
    CHECK(bk_bus_reply_read(NULL, &r) == BK_BUS_REPLY_ODD, "no reply at all");
    bk_metrics_free();
    return check_done();
}
