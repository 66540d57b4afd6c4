/* strmap.h - a string-keyed hash map (open addressing, linear probing).
 *
 * Used for rule ids and event names. Keys are copied into the map; values
 * are borrowed pointers. Lookups take a length so that callers can look up
 * byte ranges without copying them first. */
#ifndef BK_RULES_STRMAP_H
#define BK_RULES_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bk_strmap_slot {
    char *key; /* NULL when the slot is free */
    size_t length;
    size_t hash;
    void *value;
} bk_strmap_slot;

typedef struct bk_strmap {
    bk_strmap_slot *slots;
    size_t capacity; /* a power of two, or 0 */
    size_t count;
} bk_strmap;

/* The value stored under the key, or NULL. */
void *bk_strmap_get(const bk_strmap *map, const char *key, size_t length);

/* Stores (or replaces) the value; false when out of memory. */
bool bk_strmap_put(bk_strmap *map, const char *key, size_t length, void *value);

/* Removes the key if present and returns its value, or NULL. */
void *bk_strmap_remove(bk_strmap *map, const char *key, size_t length);

/* Frees the map's own memory (not the values). */
void bk_strmap_free(bk_strmap *map);

#endif
