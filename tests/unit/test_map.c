/* test_map.c - bk_map: a string-keyed map of borrowed pointers that copies its keys. */
#include "check.h"

#include "base/map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CHECK evaluates its condition twice, so every call with a side effect (set, remove)
 * is made before the CHECK and only its result is checked. */

/* Distinct addresses to store; the map never dereferences them. */
static int v_one, v_two, v_three, v_empty, v_long;

#define LONG_KEY "conversation:c_0123456789abcdef0123456789abcdef:visitor:v_0123456789abcdef"

/* The map starts empty, and asking an empty map for anything is harmless. */
static void test_empty(void)
{
    bk_map *map = bk_map_new();
    CHECK(map != NULL, "new: returns a map");
    CHECK(bk_map_size(map) == 0, "new: size is 0");
    CHECK(bk_map_get(map, "a") == NULL, "new: get of a missing key is NULL");
    void *removed = bk_map_remove(map, "a");
    CHECK(removed == NULL, "new: remove of a missing key is NULL");
    CHECK(bk_map_size(map) == 0, "new: remove of a missing key leaves size 0");
    bk_map_free(map);
    bk_map_free(NULL);
    CHECK(1, "free: NULL is accepted");
}

/* Every key set is found again with exactly the pointer stored under it. */
static void test_set_get(void)
{
    static const struct {
        const char *key;
        void *value;
    } rows[] = {
        { "a", &v_one },
        { "b", &v_two },
        { "ab", &v_three },        /* a prefix of nothing else, but shares a prefix with "a" */
        { "", &v_empty },          /* the empty string is a key like any other */
        { LONG_KEY, &v_long },
    };
    const size_t n = sizeof rows / sizeof rows[0];
    bk_map *map = bk_map_new();
    for (size_t i = 0; i < n; i++) {
        int rc = bk_map_set(map, rows[i].key, rows[i].value);
        CHECK(rc == 0, "set \"%.20s\": returns 0", rows[i].key);
    }
    CHECK(bk_map_size(map) == n, "set: size counts %zu distinct keys", n);
    for (size_t i = 0; i < n; i++)
        CHECK(bk_map_get(map, rows[i].key) == rows[i].value, "get \"%.20s\": the pointer stored", rows[i].key);

    /* Lookups are exact: near misses are absent. */
    static const char *const misses[] = { "A", "a ", " a", "abc", "ba", LONG_KEY "x" };
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++)
        CHECK(bk_map_get(map, misses[i]) == NULL, "get \"%.20s\": near miss is absent", misses[i]);
    bk_map_free(map);
}

/* Setting an existing key replaces its value without adding an entry. */
static void test_overwrite(void)
{
    bk_map *map = bk_map_new();
    bk_map_set(map, "k", &v_one);
    int rc = bk_map_set(map, "k", &v_two);
    CHECK(rc == 0, "overwrite: returns 0");
    CHECK(bk_map_get(map, "k") == &v_two, "overwrite: get returns the new value");
    CHECK(bk_map_size(map) == 1, "overwrite: size stays 1");
    void *removed = bk_map_remove(map, "k");
    CHECK(removed == &v_two, "overwrite: remove returns the new value");
    CHECK(bk_map_get(map, "k") == NULL, "overwrite: one remove deletes the key entirely");
    bk_map_free(map);
}

/* remove returns the value, forgets the key, and a second remove finds nothing. */
static void test_remove(void)
{
    bk_map *map = bk_map_new();
    bk_map_set(map, "a", &v_one);
    bk_map_set(map, "b", &v_two);
    void *removed = bk_map_remove(map, "a");
    CHECK(removed == &v_one, "remove: returns the stored value");
    CHECK(bk_map_size(map) == 1, "remove: size drops to 1");
    CHECK(bk_map_get(map, "a") == NULL, "remove: the key is gone");
    CHECK(bk_map_get(map, "b") == &v_two, "remove: other keys are untouched");
    removed = bk_map_remove(map, "a");
    CHECK(removed == NULL, "remove twice: second remove returns NULL");
    CHECK(bk_map_size(map) == 1, "remove twice: size unchanged");
    int rc = bk_map_set(map, "a", &v_three);
    CHECK(rc == 0 && bk_map_get(map, "a") == &v_three, "remove then set: the key can be added again");
    CHECK(bk_map_size(map) == 2, "remove then set: size back to 2");

    /* A NULL value is stored and counted, though get cannot tell it from absence. */
    rc = bk_map_set(map, "null", NULL);
    CHECK(rc == 0 && bk_map_size(map) == 3, "NULL value: counted in size");
    removed = bk_map_remove(map, "null");
    CHECK(removed == NULL && bk_map_size(map) == 2, "NULL value: removable, size drops");
    bk_map_free(map);
}

/* The map copies keys: the caller's buffer may change or go away after set. */
static void test_key_copied(void)
{
    bk_map *map = bk_map_new();
    char buffer[16];
    snprintf(buffer, sizeof buffer, "conn-1");
    bk_map_set(map, buffer, &v_one);
    snprintf(buffer, sizeof buffer, "conn-2");
    CHECK(bk_map_get(map, "conn-1") == &v_one, "key copy: found by the original text after the buffer changed");
    CHECK(bk_map_get(map, "conn-2") == NULL, "key copy: the buffer's new text is not a key");
    char *heap = malloc(8);
    snprintf(heap, 8, "heap");
    bk_map_set(map, heap, &v_two);
    free(heap);
    CHECK(bk_map_get(map, "heap") == &v_two, "key copy: found after the caller freed its key");
    bk_map_free(map); /* frees its own key copies; ASan reports a leak otherwise */
}

typedef struct each_state {
    int *values;
    unsigned char *seen;
    int visits;
    int mismatched;
} each_state;

static void each_visit(const char *key, void *value, void *data)
{
    each_state *state = data;
    int i = (int)((int *)value - state->values);
    char want[32];
    snprintf(want, sizeof want, "key-%d", i);
    state->visits++;
    if (strcmp(key, want) != 0)
        state->mismatched++;
    else
        state->seen[i]++;
}

/* 10 000 keys force many doublings of the bucket array (64 -> 16384); nothing is lost. */
static void test_growth(void)
{
    enum { N = 10000 };
    static int values[N];
    char key[32];
    bk_map *map = bk_map_new();

    int set_failures = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        set_failures += bk_map_set(map, key, &values[i]) != 0;
    }
    CHECK(set_failures == 0, "growth: %d sets all return 0", N);
    CHECK(bk_map_size(map) == N, "growth: size is %d", N);

    int wrong = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        wrong += bk_map_get(map, key) != &values[i];
    }
    CHECK(wrong == 0, "growth: every key maps to its own value after growing (%d wrong)", wrong);
    CHECK(bk_map_get(map, "key-10000") == NULL, "growth: a key never set is absent");

    /* bk_map_each visits every entry exactly once, with its own key and value. */
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    each_state state = { values, seen, 0, 0 };
    bk_map_each(map, each_visit, &state);
    int seen_once = 0;
    for (int i = 0; i < N; i++)
        seen_once += seen[i] == 1;
    CHECK(state.visits == N && seen_once == N && state.mismatched == 0,
          "each: %d visits, every entry once, key matches value (visits %d, once %d, mismatched %d)",
          N, state.visits, seen_once, state.mismatched);

    /* Overwriting every key after growth keeps the size. */
    int overwrite_failures = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        overwrite_failures += bk_map_set(map, key, &values[N - 1 - i]) != 0;
    }
    CHECK(overwrite_failures == 0 && bk_map_size(map) == N, "growth: overwriting all keys keeps size %d", N);
    wrong = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        wrong += bk_map_get(map, key) != &values[N - 1 - i];
    }
    CHECK(wrong == 0, "growth: overwritten values are returned (%d wrong)", wrong);

    /* Removing half leaves exactly the other half. */
    int removed_wrong = 0;
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof key, "key-%d", i);
        removed_wrong += bk_map_remove(map, key) != &values[N - 1 - i];
    }
    CHECK(removed_wrong == 0, "growth: remove returns each even key's value");
    CHECK(bk_map_size(map) == N / 2, "growth: size is %d after removing the even keys", N / 2);
    int present_even = 0, missing_odd = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        if (i % 2 == 0)
            present_even += bk_map_get(map, key) != NULL;
        else
            missing_odd += bk_map_get(map, key) != &values[N - 1 - i];
    }
    CHECK(present_even == 0, "growth: removed keys are absent (%d still present)", present_even);
    CHECK(missing_odd == 0, "growth: kept keys are intact (%d wrong)", missing_odd);

    for (int i = 1; i < N; i += 2) {
        snprintf(key, sizeof key, "key-%d", i);
        bk_map_remove(map, key);
    }
    CHECK(bk_map_size(map) == 0, "growth: size is 0 after removing everything");
    bk_map_free(map);
}

int main(void)
{
    test_empty();
    test_set_get();
    test_overwrite();
    test_remove();
    test_key_copied();
    test_growth();
    return check_done();
}
