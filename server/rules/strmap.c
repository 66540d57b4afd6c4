/* strmap.c - see strmap.h. Deletion shifts later entries of the same probe
 * run back instead of leaving tombstones, so lookups never slow down after
 * many removals. */
#include "rules/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash_bytes(const char *key, size_t length)
{
    /* FNV-1a: simple and good enough for short identifiers. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < length; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 32));
}

static bk_strmap_slot *find(const bk_strmap *map, const char *key, size_t length, size_t hash)
{
    if (map->capacity == 0)
        return NULL;
    size_t mask = map->capacity - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        bk_strmap_slot *slot = &map->slots[i];
        if (!slot->key)
            return slot;
        if (slot->hash == hash && slot->length == length && memcmp(slot->key, key, length) == 0)
            return slot;
    }
}

void *bk_strmap_get(const bk_strmap *map, const char *key, size_t length)
{
    bk_strmap_slot *slot = find(map, key, length, hash_bytes(key, length));
    return slot && slot->key ? slot->value : NULL;
}

static bool grow(bk_strmap *map)
{
    size_t capacity = map->capacity ? map->capacity * 2 : 16;
    bk_strmap_slot *slots = calloc(capacity, sizeof *slots);
    if (!slots)
        return false;
    bk_strmap old = *map;
    map->slots = slots;
    map->capacity = capacity;
    for (size_t i = 0; i < old.capacity; i++) {
        if (!old.slots[i].key)
            continue;
        bk_strmap_slot *slot = find(map, old.slots[i].key, old.slots[i].length, old.slots[i].hash);
        *slot = old.slots[i];
    }
    free(old.slots);
    return true;
}

bool bk_strmap_put(bk_strmap *map, const char *key, size_t length, void *value)
{
    /* Keep the load at most 1/2 so probe runs stay short. */
    if ((map->count + 1) * 2 > map->capacity && !grow(map))
        return false;
    size_t hash = hash_bytes(key, length);
    bk_strmap_slot *slot = find(map, key, length, hash);
    if (slot->key) {
        slot->value = value;
        return true;
    }
    char *copy = malloc(length + 1);
    if (!copy)
        return false;
    memcpy(copy, key, length);
    copy[length] = '\0';
    slot->key = copy;
    slot->length = length;
    slot->hash = hash;
    slot->value = value;
    map->count++;
    return true;
}

void *bk_strmap_remove(bk_strmap *map, const char *key, size_t length)
{
    bk_strmap_slot *slot = find(map, key, length, hash_bytes(key, length));
    if (!slot || !slot->key)
        return NULL;
    void *value = slot->value;
    free(slot->key);
    slot->key = NULL;
    map->count--;

    /* Move back every later entry of the run that may no longer be found
     * across the hole. */
    size_t mask = map->capacity - 1;
    size_t hole = (size_t)(slot - map->slots);
    for (size_t i = (hole + 1) & mask; map->slots[i].key; i = (i + 1) & mask) {
        size_t home = map->slots[i].hash & mask;
        /* The entry at i may fill the hole if its home is not in (hole, i]. */
        bool home_between = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!home_between) {
            map->slots[hole] = map->slots[i];
            map->slots[i].key = NULL;
            hole = i;
        }
    }
    return value;
}

void bk_strmap_free(bk_strmap *map)
{
    for (size_t i = 0; i < map->capacity; i++)
        free(map->slots[i].key);
    free(map->slots);
    map->slots = NULL;
    map->capacity = map->count = 0;
}
