/* mail_quote.c - a reply without what it quotes and its signature. Mail clients mark the quote
 * in a few ways, in the writer's language; these are the ones of English, Danish, Norwegian and
 * German clients (Gmail, Outlook, Apple Mail, Thunderbird). The whole text is kept beside the
 * cut one (bk_mail_in.original), so a cut that went wrong loses nothing. */
#include "mail/mail_in.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int starts(const char *line, size_t n, const char *with)
{
    size_t m = strlen(with);
    return n >= m && strncasecmp(line, with, m) == 0;
}

static int contains(const char *line, size_t n, const char *what)
{
    size_t m = strlen(what);
    for (size_t i = 0; i + m <= n; i++)
        if (strncasecmp(line + i, what, m) == 0)
            return 1;
    return 0;
}

/* The line without leading spaces and the '*' of Outlook's bold headers, and trailing spaces. */
static void trim(const char **line, size_t *n)
{
    while (*n && (**line == ' ' || **line == '\t' || **line == '*')) {
        (*line)++;
        (*n)--;
    }
    while (*n && ((*line)[*n - 1] == ' ' || (*line)[*n - 1] == '\t' || (*line)[*n - 1] == '\r'))
        (*n)--;
}

static int ends_colon(const char *line, size_t n)
{
    return n && line[n - 1] == ':';
}

/* "On Tue, 4 Mar 2025 at 10:12, Ann <ann@x.example> wrote:" (Gmail, Apple Mail), "Den 4. mar.
 * 2025 kl. 10.12 skrev Ann <...>:" (Danish), "tir. 4. mar. 2025 kl. 10:12 skrev Ann <...>:"
 * (Norwegian), "Am ... schrieb ...:" (German). Gmail folds a long one over two lines: next
 * is the line after. */
static int attribution(const char *line, size_t n, const char *next, size_t next_n)
{
    if (starts(line, n, "On ") && (contains(line, n, " wrote:") || (next && contains(next, next_n, "wrote:") &&
                                                                    next_n <= 80 && ends_colon(next, next_n))))
        return 1;
    if (ends_colon(line, n) && (contains(line, n, " skrev ") || contains(line, n, " schrieb ")) &&
        (contains(line, n, "@") || contains(line, n, " kl. ") || starts(line, n, "Den ") || starts(line, n, "Am ")))
        return 1;
    if (next && ends_colon(next, next_n) && contains(next, next_n, "skrev") && starts(line, n, "Den "))
        return 1;
    return 0;
}

/* Outlook: "From: Ann" followed within a few lines by "Sent:" or "Date:" (and the same in
 * Danish, Norwegian and German). */
static int outlook_header(const char *text, const char *line, size_t n)
{
    if (!(starts(line, n, "From:") || starts(line, n, "Fra:") || starts(line, n, "Von:")))
        return 0;
    const char *l = line + n;
    (void)text;
    for (int k = 0; k < 4 && *l; k++) {
        l += *l == '\n';
        size_t m = strcspn(l, "\n");
        const char *t = l;
        trim(&t, &m);
        if (starts(t, m, "Sent:") || starts(t, m, "Sendt:") || starts(t, m, "Date:") || starts(t, m, "Dato:") ||
            starts(t, m, "Gesendet:") || starts(t, m, "Datum:"))
            return 1;
        l += strcspn(l, "\n");
    }
    return 0;
}

static int separator(const char *line, size_t n)
{
    if (n >= 10 && strspn(line, "_") == n)
        return 1;   /* Outlook's rule above the quoted header */
    /* "-----Original Message-----", "-----Oprindelig meddelelse-----", "----- Forwarded ..." */
    return n >= 10 && strncmp(line, "-----", 5) == 0 && strncmp(line + n - 5, "-----", 5) == 0 &&
           strspn(line, "- ") < n;
}

static int signature(const char *raw, size_t raw_n, const char *line, size_t n)
{
    if ((raw_n == 3 && memcmp(raw, "-- ", 3) == 0) || (raw_n == 2 && memcmp(raw, "--", 2) == 0))
        return 1;
    return starts(line, n, "Sent from my ") || starts(line, n, "Sendt fra min ") || starts(line, n, "Sendt fra ") ||
           starts(line, n, "Get Outlook for ") || starts(line, n, "Hent Outlook til ") ||
           starts(line, n, "Von meinem ");
}

char *bk_mail_quote_cut(const char *text)
{
    size_t len = strlen(text);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t w = 0;
    const char *l = text;
    while (*l) {
        size_t raw_n = strcspn(l, "\n");
        const char *next = l[raw_n] ? l + raw_n + 1 : NULL;
        size_t next_n = next ? strcspn(next, "\n") : 0;
        const char *t = l, *tn = next;
        size_t n = raw_n, m = next_n;
        trim(&t, &n);
        if (tn)
            trim(&tn, &m);
        if (signature(l, raw_n, t, n) || separator(t, n) || attribution(t, n, tn, m) || outlook_header(text, t, n))
            break;
        /* quoted lines go; a bottom-poster's answer below them stays */
        if (!(n && t[0] == '>')) {
            memcpy(out + w, l, raw_n);
            w += raw_n;
            out[w++] = '\n';
        }
        l += raw_n + (l[raw_n] == '\n');
    }
    while (w && (out[w - 1] == '\n' || out[w - 1] == ' ' || out[w - 1] == '\t'))
        w--;
    out[w] = '\0';
    size_t lead = strspn(out, "\n \t");
    if (!out[lead]) {   /* all of it was quote or signature: keep it whole */
        memcpy(out, text, len + 1);
        while (len && (out[len - 1] == '\n' || out[len - 1] == ' ' || out[len - 1] == '\t'))
            out[--len] = '\0';
        return out;
    }
    memmove(out, out + lead, w - lead + 1);
    return out;
}
