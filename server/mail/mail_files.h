/* mail_files.h - a mail's attachments made into files of its conversation, by the one path of
 * every file (files/file_intake.h: the check, the store), under the site's rules.
 *
 *   1. bk_mail_files_spool, on the thread pool right after the parse: each attachment's decoded
 *      bytes written to a file of its own under data-dir/uploads/ (0600, a random name), the
 *      bytes freed, its SHA-256 kept;
 *   2. bk_mail_files_take, on the loop: the site's rules (file_begin.lua, by 'email': the
 *      conversation the mail threads to, no Origin and no per-minute count, the sender's hourly
 *      limit of mail applying already), then each attachment through bk_file_intake in turn;
 *   3. the lists for lua/mail_inbound.lua: what was refused and why (the text message's
 *      `attachments`), and the files kept, which it stores as the visitor's file messages
 *      (enforcing the conversation's count again, atomically);
 *   4. bk_mail_files_settle with the script's answer: the bytes of every file it did not keep
 *      (a duplicate mail, a refusal, one file too many) are removed from the file store.
 * bk_mail_files_free removes the spooled files, whatever happened. */
#ifndef BK_MAIL_FILES_H
#define BK_MAIL_FILES_H

#include "mail/mail_in.h"
#include "server.h"

typedef struct bk_mail_files bk_mail_files;

/* Step 1 (any thread): takes the bytes out of in's attachments. NULL when in has none (or
 * memory ran out: the attachments are then listed refused by bk_mail_inbound). */
bk_mail_files *bk_mail_files_spool(bk_mail_in *in, const char *data_dir);
/* Removes the spooled files (through uv_fs when loop is given, else at once: a worker). */
void bk_mail_files_free(bk_mail_files *files, uv_loop_t *loop);

/* Step 2 (the loop): done is called once, never before this returns. begin_script: file_begin.lua's. */
void bk_mail_files_take(bk_mail_files *files, bk_server *server, int begin_script, const char *conversation,
                        const char *sender, void (*done)(void *data), void *data);

/* Step 3: the refusals ([{name, type, size, refused}], "" when none) and the files kept
 * ([{file, hook, sha256}], "" when none): malloc'd, or NULL (memory). per_conversation: the
 * site's count of files a conversation takes. */
char *bk_mail_files_refused_json(const bk_mail_files *files);
char *bk_mail_files_kept_json(const bk_mail_files *files);
long long bk_mail_files_per_conversation(const bk_mail_files *files);

/* Step 4: unkept_json: the ids the script did not keep (a JSON array), NULL when the mail was
 * not stored at all (then every file stored goes). */
void bk_mail_files_settle(bk_mail_files *files, bk_server *server, const char *unkept_json);

#endif
