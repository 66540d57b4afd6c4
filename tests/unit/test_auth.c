/* test_auth.c - visitor tokens, the signing secret, agent passwords and session tokens.
 *
 * CHECK evaluates its condition twice, so calls are made first and only results checked. */
#include "check.h"

#include "base/auth.h"
#include "base/ids.h"

#include <beckon/protocol.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t secret_a[BK_SECRET_SIZE] = "0123456789abcdef0123456789abcde";
static const uint8_t secret_b[BK_SECRET_SIZE] = "0123456789abcdef0123456789abcdX";

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define ID64 "v_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
#define ID65 ID64 "e"

static int is_hex(const char *s, size_t want_len)
{
    if (strlen(s) != want_len)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* A token for any id, MACed exactly as the server does ("v1." + id under HMAC-SHA256,
 * base64url without padding), so the tests can show that a correct MAC is not enough. */
static void forge(const uint8_t secret[BK_SECRET_SIZE], const char *version, const char *id,
                  char *out, size_t out_size)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char message[256];
    int n = snprintf(message, sizeof message, "%s.%s", version, id);
    uint8_t mac[32];
    unsigned mac_len = sizeof mac;
    HMAC(EVP_sha256(), secret, BK_SECRET_SIZE, (const uint8_t *)message, (size_t)n, mac, &mac_len);
    char b64[48];
    size_t o = 0;
    for (size_t i = 0; i < sizeof mac; i += 3) {
        uint32_t v = (uint32_t)mac[i] << 16;
        if (i + 1 < sizeof mac) v |= (uint32_t)mac[i + 1] << 8;
        if (i + 2 < sizeof mac) v |= mac[i + 2];
        b64[o++] = alphabet[(v >> 18) & 63];
        b64[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < sizeof mac) b64[o++] = alphabet[(v >> 6) & 63];
        if (i + 2 < sizeof mac) b64[o++] = alphabet[v & 63];
    }
    b64[o] = '\0';
    snprintf(out, out_size, "%s.%s.%s", version, id, b64);
}

/* Signing then verifying gives the id back, for ids of every legal shape. */
static void test_token_round_trip(void)
{
    static const char *const ids[] = {
        "v_3f9a0c", "a", "A-Z_a-z-0-9", "_", "-", ID64,
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char token[BK_TOKEN_MAX], id[BK_ID_MAX + 1] = "";
        int sign_rc = bk_token_sign(secret_a, ids[i], token, sizeof token);
        int verify_rc = sign_rc == 0 ? bk_token_verify(secret_a, token, id, sizeof id) : -2;
        CHECK(sign_rc == 0 && verify_rc == 0 && strcmp(id, ids[i]) == 0,
              "round trip: '%.20s' (sign %d, verify %d, id '%s')", ids[i], sign_rc, verify_rc, id);
    }

    char token[BK_TOKEN_MAX], again[BK_TOKEN_MAX], forged[BK_TOKEN_MAX];
    bk_token_sign(secret_a, "v_abc", token, sizeof token);
    bk_token_sign(secret_a, "v_abc", again, sizeof again);
    forge(secret_a, "v1", "v_abc", forged, sizeof forged);
    CHECK(strncmp(token, "v1.v_abc.", 9) == 0 && strlen(token) == 9 + 43,
          "format: v1.<id>.<43 base64url chars> (got '%s')", token);
    CHECK_STR(token, again, "format: signing is deterministic");
    CHECK_STR(token, forged, "format: MAC is HMAC-SHA256 over \"v1.<id>\", base64url without padding");

    /* Signing refuses what verifying would refuse, and an output buffer that is too small. */
    static const struct {
        const char *name;
        const char *id;
        size_t out_size;
    } refused[] = {
        { "empty id", "", BK_TOKEN_MAX },
        { "65-char id", ID65, BK_TOKEN_MAX },
        { "id with '.'", "v.1", BK_TOKEN_MAX },
        { "id with space", "v 1", BK_TOKEN_MAX },
        { "output buffer one short", "v_abc", 9 + 43 },
        { "output buffer of 1", "v_abc", 1 },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char out[BK_TOKEN_MAX];
        int rc = bk_token_sign(secret_a, refused[i].id, out, refused[i].out_size);
        CHECK(rc == -1, "sign refuses: %s", refused[i].name);
    }
}

/* Anything but an untouched token signed with this secret is refused. */
static void test_token_refused(void)
{
    char good[BK_TOKEN_MAX];
    bk_token_sign(secret_a, "v_abc", good, sizeof good);
    size_t len = strlen(good);

    /* Tokens derived from the good one by one change each. */
    char mac_changed[BK_TOKEN_MAX], mac_first_changed[BK_TOKEN_MAX], id_changed[BK_TOKEN_MAX],
         version_changed[BK_TOKEN_MAX], mac_short[BK_TOKEN_MAX], mac_long[BK_TOKEN_MAX],
         trailing[BK_TOKEN_MAX], wrong_secret[BK_TOKEN_MAX], v2_forged[BK_TOKEN_MAX],
         uppercase[BK_TOKEN_MAX], mac_swapped[BK_TOKEN_MAX], other_id_mac[BK_TOKEN_MAX];
    snprintf(mac_changed, sizeof mac_changed, "%s", good);
    mac_changed[len - 1] = mac_changed[len - 1] == 'A' ? 'B' : 'A';
    snprintf(mac_first_changed, sizeof mac_first_changed, "%s", good);
    mac_first_changed[9] = mac_first_changed[9] == 'A' ? 'B' : 'A';
    snprintf(id_changed, sizeof id_changed, "%s", good);
    id_changed[5] = 'x';                                  /* v1.v_xbc.<mac of v_abc> */
    snprintf(version_changed, sizeof version_changed, "%s", good);
    version_changed[1] = '2';                             /* v2.v_abc.<mac> */
    snprintf(mac_short, sizeof mac_short, "%.*s", (int)len - 1, good);
    snprintf(mac_long, sizeof mac_long, "%sA", good);
    snprintf(trailing, sizeof trailing, "%s.x", good);
    bk_token_sign(secret_b, "v_abc", wrong_secret, sizeof wrong_secret);
    forge(secret_a, "v2", "v_abc", v2_forged, sizeof v2_forged);
    snprintf(uppercase, sizeof uppercase, "V1%s", good + 2);
    /* The MAC of another id spliced onto this id. */
    char other[BK_TOKEN_MAX];
    bk_token_sign(secret_a, "v_abd", other, sizeof other);
    snprintf(other_id_mac, sizeof other_id_mac, "v1.v_abc.%s", other + 9);
    snprintf(mac_swapped, sizeof mac_swapped, "%s", good);
    char c = mac_swapped[10];
    mac_swapped[10] = mac_swapped[11];
    mac_swapped[11] = c;

    /* Correct MACs over ids the server never issues. */
    char bad_char[6][BK_TOKEN_MAX];
    forge(secret_a, "v1", "v 1", bad_char[0], BK_TOKEN_MAX);
    forge(secret_a, "v1", "v/1", bad_char[1], BK_TOKEN_MAX);
    forge(secret_a, "v1", "v:1", bad_char[2], BK_TOKEN_MAX);
    forge(secret_a, "v1", "v\xc3\xa9", bad_char[3], BK_TOKEN_MAX);
    forge(secret_a, "v1", "", bad_char[4], BK_TOKEN_MAX);
    forge(secret_a, "v1", ID65, bad_char[5], BK_TOKEN_MAX);

    static char overlong[600];
    memset(overlong, 'a', sizeof overlong - 1);
    memcpy(overlong, "v1.", 3);

    const struct {
        const char *name;
        const char *token;
    } rows[] = {
        { "altered last MAC char", mac_changed },
        { "altered first MAC char", mac_first_changed },
        { "two MAC chars swapped", mac_swapped },
        { "altered visitor id", id_changed },
        { "another id's MAC", other_id_mac },
        { "signed with another secret", wrong_secret },
        { "\"v2.\" prefix on a v1 token", version_changed },
        { "\"v2.\" token MACed as v2", v2_forged },
        { "\"V1.\" prefix", uppercase },
        { "MAC one char short", mac_short },
        { "MAC one char long", mac_long },
        { "extra part after the MAC", trailing },
        { "empty", "" },
        { "\"v1\" only", "v1" },
        { "\"v1.\" only", "v1." },
        { "id without MAC part", "v1.v_abc" },
        { "id with empty MAC", "v1.v_abc." },
        { "empty id", "v1..AAAA" },
        { "no version", "v_abc.AAAA" },
        { "just dots", ".." },
        { "id with space, correct MAC", bad_char[0] },
        { "id with '/', correct MAC", bad_char[1] },
        { "id with ':', correct MAC", bad_char[2] },
        { "id with UTF-8, correct MAC", bad_char[3] },
        { "empty id, correct MAC", bad_char[4] },
        { "65-char id, correct MAC", bad_char[5] },
        { "600 bytes without a second dot", overlong },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char id[BK_ID_MAX + 1] = "untouched";
        int rc = bk_token_verify(secret_a, rows[i].token, id, sizeof id);
        CHECK(rc == -1 && strcmp(id, "untouched") == 0, "verify refuses: %s", rows[i].name);
    }

    /* The id must fit the caller's buffer; a too-small buffer refuses rather than truncates. */
    char small[5] = "";
    int rc = bk_token_verify(secret_a, good, small, sizeof small);
    CHECK(rc == -1, "verify refuses: id longer than the caller's buffer");
    char exact[6] = "";
    rc = bk_token_verify(secret_a, good, exact, sizeof exact);
    CHECK(rc == 0 && strcmp(exact, "v_abc") == 0, "verify accepts: buffer exactly id + NUL");
}

/* The secret: given as hex, or kept in a file that is created (0600) when missing. */
static void test_secret_load(void)
{
    char dir[] = "/tmp/bk-test-auth-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    char path[128], bad_path[128], missing_dir_path[160];
    snprintf(path, sizeof path, "%s/secret", dir);
    snprintf(bad_path, sizeof bad_path, "%s/bad-secret", dir);
    snprintf(missing_dir_path, sizeof missing_dir_path, "%s/no-such-dir/secret", dir);

    /* Hex given: decoded as is; the file is not consulted. */
    static const uint8_t want_hex[BK_SECRET_SIZE] = {
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    };
    uint8_t secret[BK_SECRET_SIZE];
    char err[256] = "";
    int rc = bk_secret_load(HEX64, missing_dir_path, secret, err, sizeof err);
    CHECK(rc == 0 && memcmp(secret, want_hex, sizeof secret) == 0, "hex given: decoded (err '%s')", err);
    rc = bk_secret_load("00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
                        missing_dir_path, secret, err, sizeof err);
    CHECK(rc == 0 && memcmp(secret, want_hex, sizeof secret) == 0, "hex given: upper case accepted");
    CHECK(access(missing_dir_path, F_OK) != 0, "hex given: no file is created");

    /* Bad hex: the wrong length, or anything but hex digits, including the white space,
     * signs and "0x" prefixes that a scanf-based reader would let through. */
    static const struct {
        const char *name;
        const char *hex;
    } bad_hex[] = {
        { "63 digits", "0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" },
        { "65 digits", HEX64 "0" },
        { "32 digits", "00112233445566778899aabbccddeeff" },
        { "'zz' pairs", "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" },
        { "'g' in the last pair", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeg0" },
        { "leading space in a pair", " 0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" },
        { "'-' sign in a pair", "-1112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" },
        { "'+' sign in a pair", "+f112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" },
        { "'0x' as a pair", "0x112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" },
    };
    for (size_t i = 0; i < sizeof bad_hex / sizeof bad_hex[0]; i++) {
        err[0] = '\0';
        rc = bk_secret_load(bad_hex[i].hex, path, secret, err, sizeof err);
        CHECK(rc == -1 && strcmp(err, "secret: expected 64 hex digits") == 0,
              "bad hex refused: %s (rc %d, err '%s')", bad_hex[i].name, rc, err);
    }
    CHECK(access(path, F_OK) != 0, "bad hex: no file is created");

    /* Missing file: created with mode 0600 holding 64 lower-case hex digits and a newline. */
    uint8_t first[BK_SECRET_SIZE], second[BK_SECRET_SIZE];
    err[0] = '\0';
    rc = bk_secret_load(NULL, path, first, err, sizeof err);
    CHECK(rc == 0, "missing file: created (err '%s')", err);
    struct stat st;
    int stat_rc = stat(path, &st);
    CHECK(stat_rc == 0 && (st.st_mode & 0777) == 0600, "missing file: mode is 0600 (got %o)",
          stat_rc == 0 ? (unsigned)(st.st_mode & 0777) : 0u);
    char text[200] = "";
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    CHECK(n == 65 && text[64] == '\n', "missing file: 64 characters and a newline (got %zu bytes)", n);
    text[strcspn(text, "\n")] = '\0';
    CHECK(is_hex(text, 64), "missing file: the characters are lower-case hex ('%s')", text);
    uint8_t from_text[BK_SECRET_SIZE];
    rc = bk_secret_load(text, NULL, from_text, err, sizeof err);
    CHECK(rc == 0 && memcmp(from_text, first, sizeof first) == 0, "missing file: the file holds the returned secret");

    /* Existing file: read back, not replaced. */
    rc = bk_secret_load(NULL, path, second, err, sizeof err);
    CHECK(rc == 0 && memcmp(first, second, sizeof first) == 0, "existing file: re-read gives the same secret");
    rc = bk_secret_load("", path, second, err, sizeof err);
    CHECK(rc == 0 && memcmp(first, second, sizeof first) == 0, "existing file: empty hex means use the file");
    char dir2[] = "/tmp/bk-test-auth-XXXXXX", path2[128];
    if (mkdtemp(dir2)) {
        snprintf(path2, sizeof path2, "%s/secret", dir2);
        uint8_t other[BK_SECRET_SIZE];
        rc = bk_secret_load(NULL, path2, other, err, sizeof err);
        CHECK(rc == 0 && memcmp(first, other, sizeof first) != 0, "new file: each new secret is random");
        unlink(path2);
        rmdir(dir2);
    }

    /* Files written by hand: a CRLF is fine; anything else that is not 64 hex digits is refused. */
    static const struct {
        const char *name;
        const char *text;
        int rc;
    } files[] = {
        { "64 digits without newline", HEX64, 0 },
        { "64 digits and CRLF", HEX64 "\r\n", 0 },
        { "empty file", "", -1 },
        { "63 digits", "0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", -1 },
        { "65 digits", HEX64 "0\n", -1 },
        { "not hex", "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", -1 },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        f = fopen(bad_path, "w");
        fputs(files[i].text, f);
        fclose(f);
        char want_err[256];
        snprintf(want_err, sizeof want_err, "%s: expected 64 hex digits", bad_path);
        err[0] = '\0';
        memset(secret, 0, sizeof secret);
        rc = bk_secret_load(NULL, bad_path, secret, err, sizeof err);
        int ok = files[i].rc == 0 ? rc == 0 && memcmp(secret, want_hex, sizeof secret) == 0
                                  : rc == -1 && strcmp(err, want_err) == 0;
        CHECK(ok, "secret file: %s -> %s (rc %d, err '%s')", files[i].name,
              files[i].rc == 0 ? "read" : "refused naming the file", rc, err);
    }

    /* A file that cannot be created is an error naming the path. */
    char want_err[256];
    snprintf(want_err, sizeof want_err, "%s: No such file or directory", missing_dir_path);
    rc = bk_secret_load(NULL, missing_dir_path, secret, err, sizeof err);
    CHECK(rc == -1 && strcmp(err, want_err) == 0, "missing directory: error names the path ('%s')", err);

    unlink(path);
    unlink(bad_path);
    rmdir(dir);
}

/* Agent passwords: yescrypt hashes with a random salt. */
static void test_passwords(void)
{
    char hash[BK_PASSWORD_HASH_MAX] = "", hash2[BK_PASSWORD_HASH_MAX] = "", empty_hash[BK_PASSWORD_HASH_MAX] = "";
    int rc = bk_password_hash("correct horse", hash, sizeof hash);
    CHECK(rc == 0, "hash: returns 0");
    CHECK(strncmp(hash, "$y$", 3) == 0, "hash: is yescrypt, starts with \"$y$\" ('%s')", hash);
    rc = bk_password_hash("correct horse", hash2, sizeof hash2);
    CHECK(rc == 0 && strcmp(hash, hash2) != 0, "hash: same password twice gives different hashes (salted)");
    rc = bk_password_hash("", empty_hash, sizeof empty_hash);
    CHECK(rc == 0 && strncmp(empty_hash, "$y$", 3) == 0, "hash: an empty password can be hashed");
    char tiny[16];
    rc = bk_password_hash("correct horse", tiny, sizeof tiny);
    CHECK(rc == -1, "hash: refuses an output buffer too small for the hash");

    const struct {
        const char *name;
        const char *password;
        const char *hash;
        int rc;
    } rows[] = {
        { "right password", "correct horse", hash, 0 },
        { "right password, second hash", "correct horse", hash2, 0 },
        { "wrong password", "correct horsf", hash, -1 },
        { "password with a suffix", "correct horse!", hash, -1 },
        { "password prefix", "correct hors", hash, -1 },
        { "different case", "Correct horse", hash, -1 },
        { "empty password against a real hash", "", hash, -1 },
        { "empty password, its own hash", "", empty_hash, 0 },
        { "non-empty password against the empty password's hash", "x", empty_hash, -1 },
        { "empty hash string", "correct horse", "", -1 },
        { "garbage hash", "correct horse", "not a hash", -1 },
        { "failure marker as hash", "correct horse", "*0", -1 },
        { "truncated hash", "correct horse", "$y$", -1 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        rc = bk_password_verify(rows[i].password, rows[i].hash);
        CHECK(rc == rows[i].rc, "verify: %s -> %s", rows[i].name, rows[i].rc == 0 ? "accepted" : "refused");
    }
}

/* Session tokens: 64 random hex digits; Redis keeps only their SHA-256. */
static void test_session_tokens(void)
{
    char token[BK_SESSION_TOKEN_SIZE] = "", other[BK_SESSION_TOKEN_SIZE] = "";
    char digest[BK_SESSION_TOKEN_SIZE] = "", digest2[BK_SESSION_TOKEN_SIZE] = "", other_digest[BK_SESSION_TOKEN_SIZE] = "";
    int rc = bk_session_token_new(token);
    int rc2 = bk_session_token_new(other);
    CHECK(rc == 0 && is_hex(token, 64), "session token: 64 lower-case hex digits ('%s')", token);
    CHECK(rc2 == 0 && strcmp(token, other) != 0, "session token: two tokens differ");
    bk_session_token_digest(token, digest);
    bk_session_token_digest(token, digest2);
    bk_session_token_digest(other, other_digest);
    CHECK(is_hex(digest, 64), "digest: 64 lower-case hex digits");
    CHECK_STR(digest, digest2, "digest: deterministic");
    CHECK(strcmp(digest, token) != 0, "digest: differs from the token");
    CHECK(strcmp(digest, other_digest) != 0, "digest: differs between tokens");

    /* Known answers: the digest is plain SHA-256 of the token text. */
    static const struct {
        const char *token;
        const char *digest;
    } known[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        bk_session_token_digest(known[i].token, digest);
        CHECK_STR(digest, known[i].digest, "digest: SHA-256 of \"%s\"", known[i].token);
    }
}

/* Addresses are truncated before anything is stored or logged: /24 for IPv4, /48 for IPv6. */
static void test_ip_truncate(void)
{
    static const struct { const char *in, *want; } rows[] = {
        { "192.0.2.77", "192.0.2.0" },
        { "10.1.2.3", "10.1.2.0" },
        { "::ffff:198.51.100.9", "198.51.100.0" },
        { "2001:db8:1:2:3:4:5:6", "2001:db8:1::" },
        { "2001:db8::1", "2001:db8::" },
        { "::1", "::" },
        { "not an address", "unknown" },
        { "", "unknown" },
        { "999.1.1.1", "unknown" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[64];
        bk_ip_truncate(rows[i].in, out, sizeof out);
        CHECK_STR(out, rows[i].want, "ip truncate: '%s'", rows[i].in);
    }
}

/* The site's backend signs its user id; the widget passes id and hash to identify. */
static void test_identity(void)
{
    const char *secret = "s3cret-of-the-shop";
    uint8_t mac[32];
    unsigned len = sizeof mac;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)"user-42", 7, mac, &len);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    CHECK(bk_identity_verify(secret, "user-42", hex) == 0, "identity: the site's signature verifies");
    char upper[65];
    for (int i = 0; i <= 64; i++)
        upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
    CHECK(bk_identity_verify(secret, "user-42", upper) == 0, "identity: upper-case hex verifies");
    CHECK(bk_identity_verify(secret, "user-43", hex) != 0, "identity: another id is refused");
    CHECK(bk_identity_verify("other-secret-value", "user-42", hex) != 0, "identity: another secret is refused");
    CHECK(bk_identity_verify("", "user-42", hex) != 0, "identity: no secret, no verification");
    hex[10] = hex[10] == '0' ? '1' : '0';
    CHECK(bk_identity_verify(secret, "user-42", hex) != 0, "identity: one changed digit is refused");
    CHECK(bk_identity_verify(secret, "user-42", "abc") != 0, "identity: a short hash is refused");
}

int main(void)
{
    test_ip_truncate();
    test_identity();
    test_token_round_trip();
    test_token_refused();
    test_secret_load();
    test_passwords();
    test_session_tokens();
    return check_done();
}
