/* mail_relay.c - one mail handed to the server's LMTP socket (mail_relay.h). */
#include "cli/mail_relay.h"

#include "protocol/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

typedef struct relay_link {
    int fd;
    char in[4096];
    size_t have;
} relay_link;

static int send_all(relay_link *l, const char *bytes, size_t len)
{
    while (len > 0) {
        ssize_t n = send(l->fd, bytes, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        bytes += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One reply (the last line of a multi-line one) into line: its status, or -1. */
static int reply_read(relay_link *l, char *line, size_t line_size)
{
    for (;;) {
        char *end = memchr(l->in, '\n', l->have);
        if (end) {
            size_t n = (size_t)(end - l->in) + 1;
            size_t keep = n - 1 > 0 && l->in[n - 2] == '\r' ? n - 2 : n - 1;
            snprintf(line, line_size, "%.*s", (int)keep, l->in);
            memmove(l->in, l->in + n, l->have - n);
            l->have -= n;
            if (keep >= 4 && line[3] == '-')
                continue;   /* a multi-line reply goes on */
            return keep >= 3 ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : -1;
        }
        if (l->have == sizeof l->in)
            return -1;
        ssize_t n = recv(l->fd, l->in + l->have, sizeof l->in - l->have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        l->have += (size_t)n;
    }
}

static int command(relay_link *l, const char *text, char *line, size_t line_size)
{
    if (send_all(l, text, strlen(text)) != 0)
        return -1;
    return reply_read(l, line, line_size);
}

/* The message, dot-stuffed, with CRLF line ends as LMTP wants them, and the end. */
static int data_send(relay_link *l, const char *raw, size_t len)
{
    char out[8192];
    size_t n = 0;
    int line_start = 1;
    for (size_t i = 0; i < len; i++) {
        if (n + 4 > sizeof out) {
            if (send_all(l, out, n) != 0)
                return -1;
            n = 0;
        }
        char c = raw[i];
        if (line_start && c == '.')
            out[n++] = '.';
        if (c == '\n' && (i == 0 || raw[i - 1] != '\r'))
            out[n++] = '\r';
        out[n++] = c;
        line_start = c == '\n';
    }
    if (send_all(l, out, n) != 0)
        return -1;
    return send_all(l, line_start ? ".\r\n" : "\r\n.\r\n", line_start ? 3 : 5);
}

static int temporary(char *answer, size_t answer_size, const char *socket_path, const char *what)
{
    snprintf(answer, answer_size, "the server's LMTP socket %.200s %s; try again later", socket_path, what);
    return EX_TEMPFAIL;
}

int bk_mail_relay(const char *socket_path, const char *sender, const char *recipient, const char *raw, size_t len,
                  int timeout_seconds, char *answer, size_t answer_size)
{
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    if (strlen(socket_path) >= sizeof address.sun_path)
        return temporary(answer, answer_size, socket_path, "has too long a path");
    memcpy(address.sun_path, socket_path, strlen(socket_path) + 1);
    relay_link l = { .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) };
    if (l.fd < 0)
        return temporary(answer, answer_size, socket_path, "cannot be reached (no socket)");
    struct timeval limit = { .tv_sec = timeout_seconds };
    setsockopt(l.fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(l.fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (connect(l.fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(l.fd);
        return temporary(answer, answer_size, socket_path, "is not answering (is the server running?)");
    }
    char line[600], text[700];
    int status = reply_read(&l, line, sizeof line);
    if (status == 220)
        status = command(&l, "LHLO localhost\r\n", line, sizeof line);
    if (status == 250) {
        snprintf(text, sizeof text, "MAIL FROM:<%.320s>\r\n", sender);
        status = command(&l, text, line, sizeof line);
    }
    if (status == 250) {
        snprintf(text, sizeof text, "RCPT TO:<%.320s>\r\n", recipient);
        status = command(&l, text, line, sizeof line);
    }
    if (status == 250)
        status = command(&l, "DATA\r\n", line, sizeof line);
    if (status == 354)
        status = data_send(&l, raw, len) == 0 ? reply_read(&l, line, sizeof line) : -1;
    if (status > 0)
        send_all(&l, "QUIT\r\n", 6);
    close(l.fd);
    if (status < 0)
        return temporary(answer, answer_size, socket_path, "stopped answering");
    /* the words without "250 2.0.0 " */
    const char *words = line + (strlen(line) > 4 ? 4 : strlen(line));
    const char *space = strchr(words, ' ');
    if (space && strchr("245", words[0]) && words[1] == '.')
        words = space + 1;
    snprintf(answer, answer_size, "%s", words);
    return bk_error_mail_exit_of_lmtp(status);
}
