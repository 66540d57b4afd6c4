/* mail_in.h - an inbound email made into what a conversation needs: who sent it, what it
 * answers, the reply itself without the quoted text and signature, the whole text kept, and
 * the attachments it carried. No I/O and no Beckon state: the fuzzer links it alone.
 *
 * MIME is GMime's (multipart, transfer encodings, charsets, RFC 2047 words, addresses,
 * Message-ID lists); what is ours is choosing the text (text/plain preferred, HTML made into
 * text when it is the only one: mail_html.c) and cutting the quote (mail_quote.c). GMime must
 * be initialised once per process first (bk_mail_in_init); parsing is thread-safe after that
 * (one message per thread), so the server runs it on the thread pool. */
#ifndef BK_MAIL_IN_H
#define BK_MAIL_IN_H

#include <stddef.h>

#define BK_MAIL_IN_REFERENCES_MAX  20    /* Message-IDs of In-Reply-To and References kept */
#define BK_MAIL_IN_RECIPIENTS_MAX  20
#define BK_MAIL_IN_ATTACHMENTS_MAX 20
#define BK_MAIL_IN_PARTS_MAX       200   /* MIME parts walked; past that the rest is ignored */
#define BK_MAIL_IN_DEPTH_MAX       16    /* multipart nesting walked */
#define BK_MAIL_IN_TEXT_MAX        (64 * 1024)   /* bytes of text kept (cut on a character) */

typedef struct bk_mail_attachment {
    char *name;        /* the file name it was sent with, UTF-8; "" when it had none */
    char *type;        /* "image/png" */
    size_t size;       /* decoded bytes */
    char *bytes;       /* those bytes (malloc'd; NULL when none: a forwarded mail is not read) */
} bk_mail_attachment;

typedef struct bk_mail_in {
    char *message_id;          /* without <>, "" when it had none */
    char *from;                /* the From address, "" when none could be read */
    char *from_name;           /* its display name, UTF-8, "" when none */
    char *subject;             /* UTF-8, "" when none */
    char *references[BK_MAIL_IN_REFERENCES_MAX];  /* In-Reply-To first, then References newest first */
    size_t reference_count;
    char *recipients[BK_MAIL_IN_RECIPIENTS_MAX];  /* Delivered-To, X-Original-To, To, Cc */
    size_t recipient_count;
    char *text;                /* the reply: quote and signature cut off, UTF-8, LF line ends */
    char *original;            /* the whole text as sent (UTF-8): what the agent may expand */
    int from_html;             /* the text was made from HTML */
    bk_mail_attachment attachments[BK_MAIL_IN_ATTACHMENTS_MAX];
    size_t attachment_count;   /* listed; more are counted in attachments_more */
    size_t attachments_more;
    const char *automatic;     /* why no person wrote it (RFC 3834 and its kin), or NULL */
    int has_beckon_header;     /* X-Beckon-*: a mail of ours come back */
} bk_mail_in;

/* Once per process, before any parse (idempotent). */
void bk_mail_in_init(void);

/* Parses raw[0..len). envelope_sender: the SMTP MAIL FROM ("" for the null sender of bounces,
 * NULL when unknown). Returns 0 with out filled (free with bk_mail_in_free), or -1 with err
 * filled when the bytes are no message GMime can read, or when it has neither text nor
 * attachments (attachments alone: text is ""). */
int bk_mail_in_parse(const char *raw, size_t len, const char *envelope_sender, bk_mail_in *out,
                     char *err, size_t err_size);
void bk_mail_in_free(bk_mail_in *in);

/* HTML made into plain text (mail_html.c): block elements end lines, <br> breaks one, script,
 * style and head are dropped, entities decoded, and what a mail client quotes
 * (blockquote, Gmail's gmail_quote, Outlook's divRplyFwdMsg, Apple's type=cite) is left out.
 * malloc'd UTF-8 (the input's bytes must be UTF-8), or NULL. */
char *bk_mail_html_text(const char *html, size_t len);

/* The reply without what it quotes (mail_quote.c): cut at the first line that starts a quote
 * ("On ... wrote:", "Den ... skrev ...:", Outlook's "From: ... Sent:" block or "-----Original
 * Message-----", "> " lines) or a signature ("-- ", "Sent from my iPhone"), trailing blank
 * lines removed. malloc'd; when nothing is left, a copy of the whole text. */
char *bk_mail_quote_cut(const char *text);

#endif
