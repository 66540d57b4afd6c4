/* test_fetch.c - bk_url_parse (server/transport/fetch.h): which webhook URLs are taken, and how they are
 * split into what the request needs (TLS or not, host, port, path with query).
 *
 * fetch.h promises: http(s)://host[:port][/path]; host a name, an IPv4 address or an [IPv6]
 * literal; no user info, no fragment, printable ASCII only. Sites store the URL as given
 * (sites/site_settings.c checks it with this function), so anything refused here never reaches a request. */
#include "check.h"

#include "transport/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s with control and non-ASCII bytes as \xNN, so that a TAP line stays one line. */
static const char *shown(const char *s)
{
    static char out[160];
    size_t o = 0;
    for (; *s && o + 8 < sizeof out; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (*s)
        o += (size_t)snprintf(out + o, sizeof out - o, "...");
    out[o] = '\0';
    return out;
}

/* Accepted URLs and how they split. */
static void test_accepted(void)
{
    static const struct {
        const char *url;
        int tls;
        const char *host;
        int port;
        const char *path;
    } rows[] = {
        { "http://example.com", 0, "example.com", 80, "/" },
        { "https://example.com", 1, "example.com", 443, "/" },
        { "https://example.com/", 1, "example.com", 443, "/" },
        { "https://hooks.example.com:8443/beckon/events?site=shop&x=1", 1, "hooks.example.com", 8443,
          "/beckon/events?site=shop&x=1" },
        { "http://example.com?x=1", 0, "example.com", 80, "/?x=1" },
        { "http://example.com:8080?x=1", 0, "example.com", 8080, "/?x=1" },
        { "http://localhost:9000/hook", 0, "localhost", 9000, "/hook" },
        { "http://127.0.0.1:8080/hook", 0, "127.0.0.1", 8080, "/hook" },
        { "http://my-host.example.", 0, "my-host.example.", 80, "/" },
        { "http://EXAMPLE.com/Path", 0, "EXAMPLE.com", 80, "/Path" },
        { "http://h:1", 0, "h", 1, "/" },
        { "http://h:65535", 0, "h", 65535, "/" },
        { "http://h:00080", 0, "h", 80, "/" },
        { "https://h:80/", 1, "h", 80, "/" },
        /* IPv6 literals: the brackets go, the address stays */
        { "http://[::1]:9000/hook", 0, "::1", 9000, "/hook" },
        { "https://[2001:db8::1]/", 1, "2001:db8::1", 443, "/" },
        { "http://[2001:DB8:0:0:8:800:200C:417A]", 0, "2001:DB8:0:0:8:800:200C:417A", 80, "/" },
        { "http://[::ffff:192.0.2.1]:81/", 0, "::ffff:192.0.2.1", 81, "/" },
        { "http://[::1]?q", 0, "::1", 80, "/?q" },
        /* the path is passed on as written: escapes, '@', ':' and brackets included */
        { "http://h/a%20b/%E6?x=%23&y=a@b:c", 0, "h", 80, "/a%20b/%E6?x=%23&y=a@b:c" },
        { "http://h/[x]//;p", 0, "h", 80, "/[x]//;p" },
        { "http://h/?", 0, "h", 80, "/?" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bk_url u;
        memset(&u, 0x5a, sizeof u);
        int rc = bk_url_parse(rows[i].url, &u);
        CHECK(rc == 0, "accepted: %s", rows[i].url);
        if (rc != 0)
            continue;
        CHECK(u.tls == rows[i].tls && u.port == rows[i].port, "%s: tls %d port %d (got %d, %d)", rows[i].url,
              rows[i].tls, rows[i].port, u.tls, u.port);
        CHECK_STR(u.host, rows[i].host, "%s: host", rows[i].url);
        CHECK_STR(u.path, rows[i].path, "%s: path", rows[i].url);
    }
}

/* Refused URLs: each row says why. */
static void test_refused(void)
{
    static const struct {
        const char *url;
        const char *why;
    } rows[] = {
        { "", "empty" },
        { "example.com/hook", "no scheme" },
        { "//example.com/hook", "no scheme" },
        { "ftp://example.com/", "other scheme" },
        { "ws://example.com/", "other scheme" },
        { "HTTP://example.com/", "the scheme is taken in lower case only" },
        { "http:/example.com/", "one slash" },
        { "http:example.com", "no slashes" },
        { "http://", "no host" },
        { "https://", "no host" },
        { "http:///hook", "no host" },
        { "http://?x=1", "no host" },
        { "http://:80/", "no host, a port" },
        /* user info: it would end up in the request line's authority or be dropped silently */
        { "http://user@example.com/", "user info" },
        { "http://user:secret@example.com/", "user info with a password" },
        { "http://@example.com/", "empty user info" },
        { "http://example.com@evil.example/", "user info that looks like a host" },
        { "http://[::1]@h/", "user info after an IPv6 literal" },
        /* fragments are never sent, so one in a webhook URL is a mistake */
        { "http://example.com/#top", "fragment" },
        { "http://example.com#top", "fragment right after the host" },
        { "http://example.com/p?q=1#f", "fragment after the query" },
        /* ports */
        { "http://h:", "empty port" },
        { "http://h:/p", "empty port before a path" },
        { "http://h:0", "port 0" },
        { "http://h:65536", "port above 65535" },
        { "http://h:99999", "port above 65535" },
        { "http://h:123456", "six digits" },
        { "http://h:-1", "negative port" },
        { "http://h:+80", "signed port" },
        { "http://h:8o", "letter in the port" },
        { "http://h:80:81", "two ports" },
        { "http://h:0x50", "hex port" },
        /* IPv6 */
        { "http://[]/", "empty brackets" },
        { "http://[::1/", "no closing bracket" },
        { "http://::1/", "IPv6 without brackets" },
        { "http://[::1]x/", "text after the bracket" },
        { "http://[::1]:/", "empty port after the bracket" },
        { "http://[::1]]/", "two closing brackets" },
        { "http://[::1]:65536/", "port above 65535 after the bracket" },
        { "http://[example.com]/", "a name in brackets" },
        { "http://[127.0.0.1]/", "an IPv4 address in brackets" },
        { "http://[12345::1]/", "not an IPv6 address" },
        { "http://[1:2:3:4:5:6:7:8:9]/", "too many groups" },
        { "http://[::1%25eth0]/", "a zone id" },
        { "http://a[::1]/", "a bracket inside a name" },
        /* names: letters, digits, dots and hyphens */
        { "http://exa_mple.com/", "underscore in the host" },
        { "http://ex%41mple.com/", "escape in the host" },
        { "http://ex\xc3\xa4mple.com/", "non-ASCII host (IDNs must come as xn--)" },
        { "http://a\\b.com/", "backslash in the host" },
        { "http://example.com\\@evil.example/", "backslash and user info" },
        /* spaces, control characters, non-ASCII anywhere */
        { "http://exa mple.com/", "space in the host" },
        { " http://example.com/", "leading space" },
        { "http://example.com/ ", "trailing space" },
        { "http://example.com/a b", "space in the path" },
        { "http://example.com/\r\nX-Injected: 1", "CR LF in the path" },
        { "http://example.com\r\n/", "CR LF after the host" },
        { "http://example.com/\n", "LF" },
        { "http://example.com/\r", "CR" },
        { "http://example.com/\t", "tab" },
        { "http://example.com/\x7f", "DEL" },
        { "http://example.com/\xc3\xa6", "non-ASCII in the path" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bk_url u;
        CHECK(bk_url_parse(rows[i].url, &u) == -1, "refused (%s): %s", rows[i].why, shown(rows[i].url));
    }
}

/* The host and the path have fixed buffers: what fits is taken whole, what does not is
 * refused, never cut. */
static void test_lengths(void)
{
    char url[2200];
    char host[300];
    bk_url u;

    memset(host, 'a', 255);
    host[255] = '\0';
    snprintf(url, sizeof url, "https://%s/p", host);
    CHECK(bk_url_parse(url, &u) == 0 && strlen(u.host) == 255, "lengths: a 255-byte host is taken");
    memset(host, 'a', 256);
    host[256] = '\0';
    snprintf(url, sizeof url, "https://%s/p", host);
    CHECK(bk_url_parse(url, &u) == -1, "lengths: a 256-byte host is refused");

    /* path with its query: at most sizeof path - 1 = 1023 bytes */
    char path[1100];
    path[0] = '/';
    memset(path + 1, 'p', 1022);
    path[1023] = '\0';
    snprintf(url, sizeof url, "http://h%s", path);
    CHECK(bk_url_parse(url, &u) == 0 && strcmp(u.path, path) == 0, "lengths: a 1023-byte path is taken whole");
    path[1023] = 'p';
    path[1024] = '\0';
    snprintf(url, sizeof url, "http://h%s", path);
    CHECK(bk_url_parse(url, &u) == -1, "lengths: a 1024-byte path is refused");
    /* a query without a path gets its "/" added, and must still fit */
    memset(path, 'q', 1022);
    path[0] = '?';
    path[1022] = '\0';
    snprintf(url, sizeof url, "http://h%s", path);
    CHECK(bk_url_parse(url, &u) == 0 && strlen(u.path) == 1023 && u.path[0] == '/' && u.path[1] == '?',
          "lengths: a 1022-byte query becomes a 1023-byte path");
    path[1022] = 'q';
    path[1023] = '\0';
    snprintf(url, sizeof url, "http://h%s", path);
    CHECK(bk_url_parse(url, &u) == -1, "lengths: a 1023-byte query (1024 with its \"/\") is refused");

    /* longer than anything a site may store (site_settings.c caps it at 1000) */
    char *huge = malloc(100000);
    memcpy(huge, "http://h/", 9);
    memset(huge + 9, 'x', 100000 - 10);
    huge[100000 - 1] = '\0';
    CHECK(bk_url_parse(huge, &u) == -1, "lengths: 100 KB is refused");
    free(huge);
}

/* A refused URL leaves no host or path behind: the output is cleared first. */
static void test_output_cleared(void)
{
    bk_url u;
    memset(&u, 0x5a, sizeof u);
    CHECK(bk_url_parse("http://user@h/", &u) == -1 && u.host[0] == '\0' && u.path[0] == '\0',
          "refused: no host or path left in the output");
}

int main(void)
{
    test_accepted();
    test_refused();
    test_lengths();
    test_output_cleared();
    return check_done();
}
