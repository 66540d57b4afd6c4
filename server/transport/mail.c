/* mail.c - an SMTP client on the loop (the message itself is built by mail_text.c). */
#include "transport/mail.h"

#include "base/ids.h"
#include "base/list.h"
#include "base/log.h"
#include "base/utf8.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the client --------------------------------------------------------------------------- */

typedef enum {
    STEP_QUEUED, STEP_RESOLVE, STEP_CONNECT, STEP_GREETING, STEP_EHLO, STEP_HELO,
    STEP_AUTH_PLAIN, STEP_AUTH_LOGIN, STEP_AUTH_USER, STEP_AUTH_PASSWORD,
    STEP_MAIL, STEP_RCPT, STEP_DATA, STEP_BODY, STEP_QUIT,
} step;

typedef struct job {
    bk_mail *mail;
    bk_list link;                  /* in the queue, or among the active */
    bk_mail_done_fn fn;
    void *data;
    int done;                      /* fn was called */
    int closing;
    int handles;                   /* open handles and requests: freed when 0 and closing */
    step step;
    char to[255];
    char *message;                 /* dot-stuffed, ready for DATA */
    size_t message_len;
    uv_timer_t timer;              /* the deadline; also defers a failure found at once */
    uv_getaddrinfo_t resolve;
    struct addrinfo *addresses, *address;
    uv_tcp_t tcp;
    uv_connect_t connect;
    int tcp_open;                  /* tcp initialised and not yet asked to close */
    int resolving;
    bk_smtp_reader reader;
    char rbuf[4096];
    int auth_plain, auth_login;    /* what EHLO offered */
    char failure[256];             /* a failure found at once, reported from the timer */
    int failure_status;
} job;

struct bk_mail {
    uv_loop_t *loop;
    const bk_config *config;
    char helo[256];
    bk_list queue;                 /* waiting for a connection, oldest first (job.link) */
    size_t queued;
    bk_list active;                /* sending, newest first (job.link) */
    size_t active_count;
    int stopping;
};

typedef struct write_req {
    uv_write_t req;
    job *job;
    char data[];
} write_req;

static void job_start(job *j);
static void job_fail(job *j, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int name_valid(const char *s)
{
    return *s && strlen(s) <= 253 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == strlen(s);
}

int bk_mail_config_check(const bk_config *config, char *err, size_t err_size)
{
    if (!config->smtp_host[0])
        return 0;
    if (strpbrk(config->smtp_host, " \r\n\t")) {
        snprintf(err, err_size, "smtp-host: expected a host name or address");
        return -1;
    }
    if (!bk_mail_address_valid(config->smtp_from)) {
        snprintf(err, err_size, "smtp-from: %s", config->smtp_from[0]
                 ? "expected a plain address like chat@shop.example"
                 : "required when smtp-host is set (the sender of transcripts)");
        return -1;
    }
    if (config->smtp_helo[0] && !name_valid(config->smtp_helo)) {
        snprintf(err, err_size, "smtp-helo: expected a host name (letters, digits, dots, hyphens)");
        return -1;
    }
    if (!config->smtp_user[0] != !config->smtp_password[0]) {
        snprintf(err, err_size, "smtp-user and smtp-password go together");
        return -1;
    }
    return 0;
}

bk_mail *bk_mail_new(uv_loop_t *loop, const bk_config *config)
{
    char err[256];
    if (!config->smtp_host[0] || bk_mail_config_check(config, err, sizeof err) != 0)
        return NULL;
    bk_mail *mail = calloc(1, sizeof *mail);
    if (!mail)
        return NULL;
    mail->loop = loop;
    mail->config = config;
    bk_list_init(&mail->queue);
    bk_list_init(&mail->active);
    size_t size = sizeof mail->helo;
    if (config->smtp_helo[0])
        snprintf(mail->helo, sizeof mail->helo, "%s", config->smtp_helo);
    else if (uv_os_gethostname(mail->helo, &size) != 0 || !name_valid(mail->helo))
        snprintf(mail->helo, sizeof mail->helo, "localhost");
    return mail;
}

/* ---- a job's life: queued -> active -> closing -> freed ---------------------------------- */

static void job_report(job *j, int status, const char *message)
{
    if (j->done)
        return;
    j->done = 1;
    j->fn(status, message, j->data);
}

static void job_free(job *j)
{
    bk_mail *mail = j->mail;
    /* Still linked: among the active (a queued job leaves the queue before it fails). */
    if (bk_list_linked(&j->link)) {
        bk_list_remove(&j->link);
        mail->active_count--;
    }
    if (j->addresses)
        uv_freeaddrinfo(j->addresses);
    free(j->message);
    free(j);
    /* a connection is free: the next message may go */
    bk_list *node;
    while (!mail->stopping && mail->active_count < BK_MAIL_CONCURRENT &&
           (node = bk_list_first(&mail->queue))) {
        job *next = bk_list_entry(node, job, link);
        bk_list_remove(node);
        mail->queued--;
        bk_list_push_front(&mail->active, &next->link);
        mail->active_count++;
        job_start(next);
    }
}

static void on_handle_closed(uv_handle_t *handle)
{
    job *j = handle->data;
    if (--j->handles == 0 && j->closing)
        job_free(j);
}

static void job_close(job *j)
{
    if (j->closing)
        return;
    j->closing = 1;
    j->handles++;  /* held until every close below has been asked for */
    if (j->resolving)
        uv_cancel((uv_req_t *)&j->resolve);
    if (j->tcp_open) {
        j->tcp_open = 0;
        uv_close((uv_handle_t *)&j->tcp, on_handle_closed);
    }
    if (!uv_is_closing((uv_handle_t *)&j->timer))
        uv_close((uv_handle_t *)&j->timer, on_handle_closed);
    if (--j->handles == 0)
        job_free(j);
}

/* The reply's first line, cleaned up for a person to read. */
static void reply_words(const bk_smtp_reader *r, char *out, size_t size)
{
    size_t n = strcspn(r->text, "\n");
    if (n > 200)
        n = 200;
    snprintf(out, size, "%d %.*s", r->code, (int)n, r->text);
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    bk_utf8_repair(out);
}

static void job_fail(job *j, int status, const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    bk_warn("mail: %s", message);
    job_report(j, status, message);
    job_close(j);
}

/* Delivered by the timer, so that fn never runs inside bk_mail_send. */
static void on_failure_due(uv_timer_t *timer)
{
    job *j = timer->data;
    job_fail(j, j->failure_status, "%s", j->failure);
}

static void fail_soon(job *j, int status, const char *message)
{
    snprintf(j->failure, sizeof j->failure, "%s", message);
    j->failure_status = status;
    uv_timer_start(&j->timer, on_failure_due, 0, 0);
}

static void on_deadline(uv_timer_t *timer)
{
    job *j = timer->data;
    if (j->done) {  /* QUIT got no answer in time: that is the relay's business */
        job_close(j);
        return;
    }
    if (j->step == STEP_QUEUED) {
        bk_list_remove(&j->link);
        j->mail->queued--;
        /* not among the active: job_free finds it on no list, as it should */
        job_fail(j, BK_MAIL_NOT_SENT, "too many emails are being sent right now; try again in a minute");
        return;
    }
    job_fail(j, j->step >= STEP_BODY ? BK_MAIL_UNSURE : BK_MAIL_NOT_SENT,
             "the mail server did not answer within %d s", j->mail->config->smtp_timeout_seconds);
}

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    job *j = w->job;
    free(w);
    if (status < 0 && status != UV_ECANCELED && !j->closing)
        job_fail(j, j->step >= STEP_BODY ? BK_MAIL_UNSURE : BK_MAIL_NOT_SENT,
                 "lost the connection to the mail server (%s)", uv_strerror(status));
}

static void job_write(job *j, const char *data, size_t len)
{
    write_req *w = malloc(sizeof *w + len);
    if (!w) {
        job_fail(j, j->step >= STEP_BODY ? BK_MAIL_UNSURE : BK_MAIL_NOT_SENT, "out of memory");
        return;
    }
    w->job = j;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&j->tcp, &b, 1, on_written);
    if (rc != 0) {
        free(w);
        job_fail(j, j->step >= STEP_BODY ? BK_MAIL_UNSURE : BK_MAIL_NOT_SENT,
                 "lost the connection to the mail server (%s)", uv_strerror(rc));
    }
}

static void job_command(job *j, step next, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void job_command(job *j, step next, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 2) {
        job_fail(j, BK_MAIL_NOT_SENT, "an SMTP command was too long");
        return;
    }
    memcpy(line + n, "\r\n", 2);
    j->step = next;
    job_write(j, line, (size_t)n + 2);
}

static void send_auth_line(job *j, step next, const char *text, size_t len)
{
    char line[700];
    size_t n = bk_mail_base64(text, len, line, sizeof line - 2);
    if (!n && len) {
        job_fail(j, BK_MAIL_NOT_SENT, "smtp-user or smtp-password is too long");
        return;
    }
    memcpy(line + n, "\r\n", 2);
    j->step = next;
    job_write(j, line, n + 2);
}

static void send_mail_from(job *j)
{
    job_command(j, STEP_MAIL, "MAIL FROM:<%s>", j->mail->config->smtp_from);
}

/* What EHLO's lines offer: AUTH PLAIN and/or LOGIN. */
static void ehlo_read(job *j)
{
    for (const char *l = j->reader.text; *l;) {
        size_t n = strcspn(l, "\n");
        if (n >= 5 && strncasecmp(l, "AUTH", 4) == 0 && (l[4] == ' ' || l[4] == '=')) {
            char mechanisms[256];
            snprintf(mechanisms, sizeof mechanisms, " %.*s ", (int)(n - 5 < 250 ? n - 5 : 250), l + 5);
            for (char *c = mechanisms; *c; c++)
                if (*c >= 'a' && *c <= 'z')
                    *c = (char)(*c - 'a' + 'A');
            if (strstr(mechanisms, " PLAIN "))
                j->auth_plain = 1;
            if (strstr(mechanisms, " LOGIN "))
                j->auth_login = 1;
        }
        l += n;
        if (*l)
            l++;
    }
}

static void after_hello(job *j)
{
    const bk_config *config = j->mail->config;
    if (!config->smtp_user[0]) {
        send_mail_from(j);
    } else if (j->auth_plain) {
        /* "\0user\0password", base64 */
        char plain[520], line[720] = "AUTH PLAIN ";
        size_t u = strlen(config->smtp_user), p = strlen(config->smtp_password);
        plain[0] = '\0';
        memcpy(plain + 1, config->smtp_user, u);
        plain[1 + u] = '\0';
        memcpy(plain + 2 + u, config->smtp_password, p);
        size_t n = bk_mail_base64(plain, 2 + u + p, line + 11, sizeof line - 13);
        if (!n) {
            job_fail(j, BK_MAIL_NOT_SENT, "smtp-user or smtp-password is too long");
            return;
        }
        memcpy(line + 11 + n, "\r\n", 2);
        j->step = STEP_AUTH_PLAIN;
        job_write(j, line, 11 + n + 2);
    } else if (j->auth_login) {
        job_command(j, STEP_AUTH_LOGIN, "AUTH LOGIN");
    } else {
        job_fail(j, BK_MAIL_NOT_SENT, "the mail server offers no AUTH PLAIN or LOGIN for smtp-user");
    }
}

static void job_reply(job *j)
{
    const bk_config *config = j->mail->config;
    int code = j->reader.code;
    char words[256];
    reply_words(&j->reader, words, sizeof words);
    switch (j->step) {
    case STEP_GREETING:
        if (code != 220)
            break;
        job_command(j, STEP_EHLO, "EHLO %s", j->mail->helo);
        return;
    case STEP_EHLO:
        if (code == 250) {
            ehlo_read(j);
            after_hello(j);
            return;
        }
        if ((code == 500 || code == 502) && !config->smtp_user[0]) {  /* an old server */
            job_command(j, STEP_HELO, "HELO %s", j->mail->helo);
            return;
        }
        break;
    case STEP_HELO:
        if (code != 250)
            break;
        after_hello(j);
        return;
    case STEP_AUTH_PLAIN:
    case STEP_AUTH_PASSWORD:
        if (code != 235) {
            job_fail(j, BK_MAIL_NOT_SENT, "the mail server refused the login: %s", words);
            return;
        }
        send_mail_from(j);
        return;
    case STEP_AUTH_LOGIN:
        if (code != 334)
            break;
        send_auth_line(j, STEP_AUTH_USER, config->smtp_user, strlen(config->smtp_user));
        return;
    case STEP_AUTH_USER:
        if (code != 334)
            break;
        send_auth_line(j, STEP_AUTH_PASSWORD, config->smtp_password, strlen(config->smtp_password));
        return;
    case STEP_MAIL:
        if (code != 250)
            break;
        job_command(j, STEP_RCPT, "RCPT TO:<%s>", j->to);
        return;
    case STEP_RCPT:
        if (code != 250 && code != 251)
            break;
        job_command(j, STEP_DATA, "DATA");
        return;
    case STEP_DATA:
        if (code != 354)
            break;
        j->step = STEP_BODY;
        job_write(j, j->message, j->message_len);
        return;
    case STEP_BODY:
        if (code != 250)
            break;
        bk_info("mail: sent (%zu bytes)", j->message_len);
        job_report(j, BK_MAIL_SENT, "");
        /* QUIT is a courtesy: the answer, or a short wait, ends the connection */
        uv_timer_start(&j->timer, on_deadline, 2000, 0);
        job_command(j, STEP_QUIT, "QUIT");
        return;
    case STEP_QUIT:
        job_close(j);
        return;
    default:
        break;
    }
    /* the server said no: before the body's end nothing was delivered, and after it a
     * refusal means the same */
    job_fail(j, BK_MAIL_NOT_SENT, "the mail server said %s", words);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    job *j = handle->data;
    *out = uv_buf_init(j->rbuf, sizeof j->rbuf);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *b)
{
    job *j = stream->data;
    if (j->closing)
        return;
    if (n < 0) {
        if (j->done) {
            job_close(j);
            return;
        }
        job_fail(j, j->step >= STEP_BODY ? BK_MAIL_UNSURE : BK_MAIL_NOT_SENT,
                 "the mail server closed the connection%s",
                 n == UV_EOF ? "" : " with an error");
        return;
    }
    const char *data = b->base;
    size_t len = (size_t)n;
    while (len > 0 && !j->closing) {
        size_t used = 0;
        int rc = bk_smtp_reader_feed(&j->reader, data, len, &used);
        if (rc < 0) {
            job_fail(j, j->step >= STEP_BODY && !j->done ? BK_MAIL_UNSURE : BK_MAIL_NOT_SENT,
                     "the mail server's answer is not SMTP");
            return;
        }
        if (rc == 0)
            break;
        job_reply(j);
        bk_smtp_reader_reset(&j->reader);
        data += used;
        len -= used;
    }
}

static int loopback(const struct sockaddr *a)
{
    if (a->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr);
    return 0;
}

static void connect_next(job *j);

/* The failed attempt's handle is closed: its memory may be used for the next one. */
static void on_attempt_closed(uv_handle_t *handle)
{
    job *j = handle->data;
    j->handles--;
    if (j->closing) {
        if (j->handles == 0)
            job_free(j);
        return;
    }
    connect_next(j);
}

static void on_connected(uv_connect_t *req, int status)
{
    job *j = req->data;
    j->handles--;
    if (j->closing)
        return;
    if (status < 0) {
        j->address = j->address->ai_next;
        if (!j->address) {
            job_fail(j, BK_MAIL_NOT_SENT, "could not connect to the mail server %s:%d (%s)",
                     j->mail->config->smtp_host, j->mail->config->smtp_port, uv_strerror(status));
            return;
        }
        /* localhost may be ::1 first while the relay listens on 127.0.0.1 only: try the next */
        j->tcp_open = 0;
        uv_close((uv_handle_t *)&j->tcp, on_attempt_closed);
        return;
    }
    /* Beckon has no TLS: a password goes only to a relay on this machine. */
    if (j->mail->config->smtp_user[0] && !loopback(j->address->ai_addr)) {
        job_fail(j, BK_MAIL_NOT_SENT, "smtp-user is set but %s is not a loopback address: "
                 "Beckon sends no password over plain SMTP to another machine", j->mail->config->smtp_host);
        return;
    }
    j->step = STEP_GREETING;
    uv_read_start((uv_stream_t *)&j->tcp, on_alloc, on_read);
}

static void connect_next(job *j)
{
    uv_tcp_init(j->mail->loop, &j->tcp);
    j->tcp.data = j;
    j->tcp_open = 1;
    j->handles++;
    j->connect.data = j;
    j->step = STEP_CONNECT;
    int rc = uv_tcp_connect(&j->connect, &j->tcp, j->address->ai_addr, on_connected);
    if (rc != 0) {
        job_fail(j, BK_MAIL_NOT_SENT, "could not connect to the mail server %s:%d (%s)",
                 j->mail->config->smtp_host, j->mail->config->smtp_port, uv_strerror(rc));
        return;
    }
    j->handles++;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    job *j = req->data;
    j->handles--;
    j->resolving = 0;
    j->addresses = res;
    if (j->closing) {
        if (j->handles == 0)
            job_free(j);
        return;
    }
    if (status < 0 || !res) {
        job_fail(j, BK_MAIL_NOT_SENT, "could not find the mail server %s (%s)",
                 j->mail->config->smtp_host, uv_strerror(status));
        return;
    }
    j->address = res;
    connect_next(j);
}

static void job_start(job *j)
{
    const bk_config *config = j->mail->config;
    char port[8];
    snprintf(port, sizeof port, "%d", config->smtp_port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    j->step = STEP_RESOLVE;
    j->resolve.data = j;
    int rc = uv_getaddrinfo(j->mail->loop, &j->resolve, on_resolved, config->smtp_host, port, &hints);
    if (rc != 0) {
        char message[256];
        snprintf(message, sizeof message, "could not look up the mail server %.120s (%s)", config->smtp_host,
                 uv_strerror(rc));
        fail_soon(j, BK_MAIL_NOT_SENT, message);
        return;
    }
    j->resolving = 1;
    j->handles++;
}

int bk_mail_send(bk_mail *mail, const char *to, const char *subject, const char *body,
                 bk_mail_done_fn fn, void *data, char *err, size_t err_size)
{
    char random[25], message_id[320];
    if (bk_id_generate("", random, sizeof random) != 0) {
        snprintf(err, err_size, "no randomness for a Message-ID");
        return -1;
    }
    int64_t now = bk_now_ms();
    snprintf(message_id, sizeof message_id, "<%s.%lld@%s>", random, (long long)now,
             strchr(mail->config->smtp_from, '@') + 1);  /* checked at start: it has one */
    bk_mail_message m = { .to = to, .subject = subject, .body = body, .message_id = message_id, .date_ms = now };
    return bk_mail_send_message(mail, &m, fn, data, err, err_size);
}

int bk_mail_send_message(bk_mail *mail, const bk_mail_message *message, bk_mail_done_fn fn, void *data, char *err,
                         size_t err_size)
{
    if (mail->stopping) {
        snprintf(err, err_size, "the server is shutting down");
        return -1;
    }
    if (!bk_mail_address_valid(message->to)) {
        snprintf(err, err_size, "not an address we can send to");
        return -1;
    }
    if (mail->active_count >= BK_MAIL_CONCURRENT && mail->queued >= BK_MAIL_QUEUE_MAX) {
        snprintf(err, err_size, "too many emails are waiting to be sent; try again in a minute");
        return -1;
    }
    job *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    j->mail = mail;
    bk_list_init(&j->link);
    j->fn = fn;
    j->data = data;
    snprintf(j->to, sizeof j->to, "%s", message->to);
    bk_mail_message m = *message;
    m.from = mail->config->smtp_from;
    size_t len = 0;
    char *text = bk_mail_message_format(&m, &len);
    j->message = text ? bk_mail_dot_stuff(text, len, &j->message_len) : NULL;
    free(text);
    if (!j->message) {
        free(j);
        snprintf(err, err_size, "could not build the message");
        return -1;
    }
    bk_smtp_reader_reset(&j->reader);
    uv_timer_init(mail->loop, &j->timer);
    j->timer.data = j;
    j->handles = 1;  /* the timer */
    uv_timer_start(&j->timer, on_deadline, (uint64_t)mail->config->smtp_timeout_seconds * 1000, 0);
    if (mail->active_count < BK_MAIL_CONCURRENT) {
        bk_list_push_front(&mail->active, &j->link);
        mail->active_count++;
        job_start(j);
    } else {
        j->step = STEP_QUEUED;
        bk_list_push_back(&mail->queue, &j->link);
        mail->queued++;
    }
    return 0;
}

void bk_mail_shutdown(bk_mail *mail)
{
    if (!mail || mail->stopping)
        return;
    mail->stopping = 1;
    bk_list *waiting;
    while ((waiting = bk_list_first(&mail->queue))) {
        job *j = bk_list_entry(waiting, job, link);
        bk_list_remove(waiting);
        mail->queued--;
        job_fail(j, BK_MAIL_NOT_SENT, "the server is shutting down");
    }
    bk_list_each(node, &mail->active) {
        job *j = bk_list_entry(node, job, link);
        if (!j->closing)
            job_fail(j, j->step >= STEP_BODY ? BK_MAIL_UNSURE : BK_MAIL_NOT_SENT,
                     "the server is shutting down");
    }
}

void bk_mail_free(bk_mail *mail)
{
    free(mail);
}
