/* mail_receiver.c - LMTP deliveries: judged on the thread pool (attachments spooled there too),
 * their attachments taken in as files (mail_files.h), stored, answered. */
#include "mail/mail_receiver.h"

#include "base/list.h"
#include "base/log.h"
#include "lua/embedded.h"
#include "mail/mail_files.h"
#include "mail/mail_inbound.h"
#include "protocol/errors.h"
#include "transport/lmtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bk_mail_receiver {
    bk_server *server;
    int script;
    int begin_script;   /* file_begin.lua: the site's rules for files */
    bk_lmtp *lmtp;
    bk_list jobs;
    int stopping;
};

/* One DATA on its way: judged off the loop, then one script per recipient that is stored. */
typedef struct job {
    bk_mail_receiver *receiver;
    bk_list link;
    bk_lmtp_delivery *delivery;   /* NULL once every recipient is answered */
    size_t count, unanswered;
    bk_mail_inbound *inbounds;
    bk_mail_files **files;        /* each recipient's attachments, NULL: none */
    char *message;                /* a copy for the worker: the delivery may go before it ends */
    size_t len;
    char sender[320];
    char **recipients;
    uv_work_t work;
    uv_timer_t deadline;
    int working, timer_open, late;
} job;

static void job_free_if_done(job *j)
{
    if (j->working || j->timer_open || j->unanswered)
        return;
    bk_list_remove(&j->link);
    for (size_t i = 0; i < j->count; i++) {
        bk_mail_inbound_free(&j->inbounds[i]);
        bk_mail_files_free(j->files[i], j->receiver->server->loop);
        free(j->recipients[i]);
    }
    free(j->inbounds);
    free(j->files);
    free(j->recipients);
    free(j->message);
    free(j);
}

static void answer(job *j, size_t i, const bk_mail_inbound *in)
{
    int exit_code;
    char line[512];
    bk_mail_inbound_answer(in, &exit_code, line, sizeof line);
    j->unanswered--;
    if (j->delivery) {
        bk_lmtp_delivery *d = j->delivery;
        if (j->unanswered == 0)
            j->delivery = NULL;   /* the last answer frees it */
        bk_lmtp_delivery_answer(d, i, line);
    }
}

static void on_deadline_closed(uv_handle_t *handle)
{
    job *j = handle->data;
    j->timer_open = 0;
    job_free_if_done(j);
}

static void timer_close(job *j)
{
    if (j->timer_open && !uv_is_closing((uv_handle_t *)&j->deadline))
        uv_close((uv_handle_t *)&j->deadline, on_deadline_closed);
}

static void on_deadline(uv_timer_t *timer)
{
    job *j = timer->data;
    j->late = 1;
    char why[128];
    snprintf(why, sizeof why, "reading the mail took over %d s; try again later",
             j->receiver->server->config->mail_parse_seconds);
    for (size_t i = 0; i < j->count; i++) {
        bk_mail_inbound late = { .code = BK_ERR_UNAVAILABLE };
        snprintf(late.why, sizeof late.why, "%s", why);
        answer(j, i, &late);
    }
    timer_close(j);
}

static void judge(uv_work_t *work)
{
    job *j = work->data;
    const bk_server *server = j->receiver->server;
    for (size_t i = 0; i < j->count; i++) {
        bk_mail_inbound *in = &j->inbounds[i];
        bk_mail_inbound_judge(server->config, server->secret, j->message, j->len, j->sender, j->recipients[i], in);
        if (!in->code && !in->dropped)
            j->files[i] = bk_mail_files_spool(&in->in, server->config->data_dir);
    }
}

typedef struct stored {
    job *job;
    size_t index;
} stored;

static void on_stored(redisReply *reply, void *data)
{
    stored *s = data;
    job *j = s->job;
    char id[64];
    bk_mail_inbound *in = &j->inbounds[s->index];
    bk_mail_inbound_stored(in, reply, id);
    if (j->files[s->index])   /* what it did not keep, or all when it stored nothing, goes */
        bk_mail_files_settle(j->files[s->index], j->receiver->server, in->code ? NULL : in->unkept_json);
    answer(j, s->index, in);
    free(s);
    job_free_if_done(j);
}

/* One recipient's mail to lua/mail_inbound.lua. */
static void store(stored *s)
{
    job *j = s->job;
    bk_mail_inbound *in = &j->inbounds[s->index];
    bk_mail_receiver *r = j->receiver;
    bk_mail_inbound_buffers buffers;
    const char *argv[BK_MAIL_INBOUND_ARGC];
    size_t lengths[BK_MAIL_INBOUND_ARGC];
    bk_mail_inbound_args(in, r->server->config, &buffers, argv, lengths);
    if (bk_store_script(r->server->store, r->script, on_stored, s, 0, BK_MAIL_INBOUND_ARGC, argv, lengths) != 0)
        on_stored(NULL, s);
}

/* Its attachments taken in: the lists of what was refused and what was stored go with it. */
static void on_files_taken(void *data)
{
    stored *s = data;
    job *j = s->job;
    bk_mail_inbound *in = &j->inbounds[s->index];
    bk_mail_files *files = j->files[s->index];
    char *refused = bk_mail_files_refused_json(files), *kept = bk_mail_files_kept_json(files);
    if (!refused || !kept) {
        free(refused);
        free(kept);
        on_stored(NULL, s);
        return;
    }
    free(in->attachments_json);
    in->attachments_json = refused;
    free(in->files_json);
    in->files_json = kept;
    in->per_conversation = bk_mail_files_per_conversation(files);
    store(s);
}

static void on_judged(uv_work_t *work, int status)
{
    job *j = work->data;
    j->working = 0;
    if (j->late || status != 0) {
        if (!j->late)   /* cancelled: never ran */
            for (size_t i = 0; i < j->count; i++) {
                bk_mail_inbound off = { .code = BK_ERR_UNAVAILABLE };
                snprintf(off.why, sizeof off.why, "the server is stopping; try again later");
                answer(j, i, &off);
            }
        timer_close(j);
        job_free_if_done(j);
        return;
    }
    uv_timer_stop(&j->deadline);
    timer_close(j);
    for (size_t i = 0; i < j->count; i++) {
        bk_mail_inbound *in = &j->inbounds[i];
        if (in->code || in->dropped) {
            answer(j, i, in);
            continue;
        }
        stored *s = malloc(sizeof *s);
        if (!s) {
            bk_mail_inbound_stored(in, NULL, (char[64]){ 0 });
            answer(j, i, in);
            continue;
        }
        s->job = j;
        s->index = i;
        if (j->files[i])
            bk_mail_files_take(j->files[i], j->receiver->server, j->receiver->begin_script, in->conversation, in->in.from,
                               on_files_taken, s);
        else
            store(s);
    }
    job_free_if_done(j);
}

static void on_delivery(bk_lmtp_delivery *d, void *data)
{
    bk_mail_receiver *r = data;
    size_t count = bk_lmtp_delivery_recipients(d);
    job *j = calloc(1, sizeof *j);
    size_t len;
    const char *message = bk_lmtp_delivery_message(d, &len);
    if (j) {
        j->inbounds = calloc(count, sizeof *j->inbounds);
        j->recipients = calloc(count, sizeof *j->recipients);
        j->files = calloc(count, sizeof *j->files);
        j->message = malloc(len + 1);
    }
    if (!j || !j->inbounds || !j->recipients || !j->files || !j->message || bk_lmtp_delivery_too_large(d) || r->stopping) {
        bk_mail_inbound refused = { .code = BK_ERR_UNAVAILABLE };
        snprintf(refused.why, sizeof refused.why, "out of memory; try again later");
        if (r->stopping)
            snprintf(refused.why, sizeof refused.why, "the server is stopping; try again later");
        if (j && bk_lmtp_delivery_too_large(d)) {
            refused.code = BK_ERR_TOO_LARGE;
            snprintf(refused.why, sizeof refused.why, "the mail is larger than %d bytes",
                     r->server->config->mail_max_bytes);
        }
        if (j) {
            free(j->files);
            free(j->inbounds);
            free(j->recipients);
            free(j->message);
            free(j);
        }
        for (size_t i = 0; i < count; i++) {
            int exit_code;
            char line[512];
            bk_mail_inbound_answer(&refused, &exit_code, line, sizeof line);
            bk_lmtp_delivery_answer(d, i, line);   /* the last one frees d */
        }
        return;
    }
    j->receiver = r;
    j->delivery = d;
    j->count = j->unanswered = count;
    memcpy(j->message, message, len);
    j->message[len] = '\0';
    j->len = len;
    snprintf(j->sender, sizeof j->sender, "%s", bk_lmtp_delivery_sender(d));
    for (size_t i = 0; i < count; i++)
        j->recipients[i] = strdup(bk_lmtp_delivery_recipient(d, i));
    bk_list_push_back(&r->jobs, &j->link);
    uv_timer_init(r->server->loop, &j->deadline);
    j->deadline.data = j;
    j->timer_open = 1;
    uv_timer_start(&j->deadline, on_deadline, (uint64_t)r->server->config->mail_parse_seconds * 1000, 0);
    j->work.data = j;
    j->working = 1;
    if (uv_queue_work(r->server->loop, &j->work, judge, on_judged) != 0) {
        j->working = 0;
        on_deadline(&j->deadline);
    }
}

bk_mail_receiver *bk_mail_receiver_new(bk_server *server, int *failed)
{
    *failed = 0;
    if (!server->config->lmtp_socket[0])
        return NULL;
    bk_mail_receiver *r = calloc(1, sizeof *r);
    if (!r) {
        *failed = 1;
        return NULL;
    }
    r->server = server;
    r->script = bk_store_script_add(server->store, bk_lua_mail_inbound);
    r->begin_script = bk_store_script_add(server->store, bk_lua_file_begin);
    bk_list_init(&r->jobs);
    bk_mail_in_init();   /* GMime, once, on this thread before any worker uses it */
    return r;
}

int bk_mail_receiver_listen(bk_mail_receiver *r, char *err, size_t err_size)
{
    err[0] = '\0';
    r->lmtp = bk_lmtp_new(r->server->loop, r->server->config->lmtp_socket, (size_t)r->server->config->mail_max_bytes,
                          on_delivery, r, err, err_size);
    return !r->lmtp || err[0] ? -1 : 0;
}

void bk_mail_receiver_shutdown(bk_mail_receiver *r)
{
    if (!r || r->stopping)
        return;
    r->stopping = 1;
    bk_lmtp_shutdown(r->lmtp);
    bk_list_each(node, &r->jobs) {
        job *j = bk_list_entry(node, job, link);
        j->delivery = NULL;   /* gone with its connection */
        if (j->working)
            uv_cancel((uv_req_t *)&j->work);
        uv_timer_stop(&j->deadline);
        timer_close(j);
    }
}

void bk_mail_receiver_free(bk_mail_receiver *r)
{
    if (!r)
        return;
    bk_lmtp_free(r->lmtp);
    free(r);
}
