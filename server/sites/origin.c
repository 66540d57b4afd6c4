/* origin.c - origin normalisation and the own-origin check. */
#include "sites/origin.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int bk_origin_normalize(const char *in, char *out, size_t out_size)
{
    size_t len = strlen(in);
    if (len == 0 || len >= BK_ORIGIN_MAX || len >= out_size)
        return -1;
    for (size_t i = 0; i <= len; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    const char *host;
    if (strncmp(out, "https://", 8) == 0)
        host = out + 8;
    else if (strncmp(out, "http://", 7) == 0)
        host = out + 7;
    else
        return -1;
    const char *port = NULL;
    const char *end;
    if (host[0] == '[') {  /* [::1] */
        end = strchr(host, ']');
        if (!end || end == host + 1 || strspn(host + 1, "0123456789abcdef:") != (size_t)(end - host - 1))
            return -1;
        end++;
    } else {
        end = host + strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789.-");
        if (end == host || end[-1] == '.' || end[-1] == '-' || host[0] == '.' || host[0] == '-' ||
            strstr(host, ".."))
            return -1;
    }
    if (*end == ':') {
        port = end + 1;
        size_t digits = strspn(port, "0123456789");
        if (digits == 0 || digits > 5 || port[digits] != '\0' || atoi(port) == 0 || atoi(port) > 65535)
            return -1;
        return 0;
    }
    return *end == '\0' ? 0 : -1;
}

int bk_origin_is_own(const char *origin, const char *host)
{
    if (!origin[0])
        return 1;
    const char *rest = strncmp(origin, "https://", 8) == 0 ? origin + 8
                     : strncmp(origin, "http://", 7) == 0 ? origin + 7 : NULL;
    return rest && host[0] && strcasecmp(rest, host) == 0;
}
