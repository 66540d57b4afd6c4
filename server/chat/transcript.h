/* transcript.h - a closed conversation, emailed to the visitor who asks for it.
 *
 * The visitor's `transcript` request: one Redis script checks that the conversation is theirs,
 * closed and answered by an agent, counts it against the limits (3 per conversation, 10 per
 * visitor and UTC day) and returns what the visitor saw; the text is composed in the visitor's
 * language and handed to the mail module. The visitor hears `ok` only once the relay accepted
 * the message; a send that certainly failed does not count against the limits. */
#ifndef BK_TRANSCRIPT_H
#define BK_TRANSCRIPT_H

#include "protocol/proto.h"
#include "server.h"

#include <jansson.h>
#include <stdint.h>

#define BK_TRANSCRIPTS_PER_CONVERSATION 3
#define BK_TRANSCRIPTS_PER_DAY          10
#define BK_TRANSCRIPT_MAX_MESSAGES      5000
#define BK_TRANSCRIPT_MAX_BYTES         (512 * 1024)

typedef struct bk_transcripts bk_transcripts;

/* Registers the scripts (before bk_store_start). */
bk_transcripts *bk_transcripts_new(bk_server *server);
void bk_transcripts_free(bk_transcripts *transcripts);

/* Answers a visitor's `transcript` request on conn: ok, or an error reply. */
void bk_transcript_request(bk_transcripts *transcripts, bk_conn *conn, const char *visitor,
                           const bk_request *request);

/* The subject and text of a transcript (pure): lang "da", "nb" or anything else for English;
 * site names where the chat took place; messages are [{from, author, text, ts}] oldest first;
 * cut says the conversation went on past what is included. Both strings are malloc'd (UTF-8,
 * LF line ends). Returns 0, or -1 when memory ran out. */
int bk_transcript_compose(const char *lang, const char *site, const json_t *messages, int cut,
                          char **subject, char **text);

#endif
