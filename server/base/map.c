/* map.c - chained hash map, FNV-1a, power-of-two buckets that double at load 1. */
#include "base/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    void *value;
    uint32_t hash;
    char key[];
} entry;

struct bk_map {
    entry **buckets;
    size_t bucket_count;
    size_t size;
};

static uint32_t hash_string(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

bk_map *bk_map_new(void)
{
    bk_map *map = calloc(1, sizeof *map);
    if (!map)
        return NULL;
    map->bucket_count = 64;
    map->buckets = calloc(map->bucket_count, sizeof *map->buckets);
    if (!map->buckets) {
        free(map);
        return NULL;
    }
    return map;
}

void bk_map_free(bk_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->bucket_count; i++) {
        for (entry *e = map->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(map->buckets);
    free(map);
}

void *bk_map_get(const bk_map *map, const char *key)
{
    uint32_t h = hash_string(key);
    for (entry *e = map->buckets[h & (map->bucket_count - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e->value;
    return NULL;
}

static void grow(bk_map *map)
{
    size_t count = map->bucket_count * 2;
    entry **buckets = calloc(count, sizeof *buckets);
    if (!buckets)
        return;  /* stay at the old size: slower, still correct */
    for (size_t i = 0; i < map->bucket_count; i++) {
        for (entry *e = map->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = buckets[e->hash & (count - 1)];
            buckets[e->hash & (count - 1)] = e;
        }
    }
    free(map->buckets);
    map->buckets = buckets;
    map->bucket_count = count;
}

int bk_map_set(bk_map *map, const char *key, void *value)
{
    uint32_t h = hash_string(key);
    entry **slot = &map->buckets[h & (map->bucket_count - 1)];
    for (entry *e = *slot; e; e = e->next) {
        if (e->hash == h && strcmp(e->key, key) == 0) {
            e->value = value;
            return 0;
        }
    }
    size_t len = strlen(key);
    entry *e = malloc(sizeof *e + len + 1);
    if (!e)
        return -1;
    memcpy(e->key, key, len + 1);
    e->hash = h;
    e->value = value;
    e->next = *slot;
    *slot = e;
    if (++map->size > map->bucket_count)
        grow(map);
    return 0;
}

void *bk_map_remove(bk_map *map, const char *key)
{
    uint32_t h = hash_string(key);
    for (entry **link = &map->buckets[h & (map->bucket_count - 1)]; *link; link = &(*link)->next) {
        entry *e = *link;
        if (e->hash == h && strcmp(e->key, key) == 0) {
            void *value = e->value;
            *link = e->next;
            free(e);
            map->size--;
            return value;
        }
    }
    return NULL;
}

size_t bk_map_size(const bk_map *map)
{
    return map->size;
}

void bk_map_each(const bk_map *map, void (*fn)(const char *key, void *value, void *data), void *data)
{
    for (size_t i = 0; i < map->bucket_count; i++)
        for (entry *e = map->buckets[i]; e; e = e->next)
            fn(e->key, e->value, data);
}
