/* map.h - a string-keyed hash map of pointers (the node's local indexes). */
#ifndef BK_MAP_H
#define BK_MAP_H

#include <stddef.h>

typedef struct bk_map bk_map;

bk_map *bk_map_new(void);
void bk_map_free(bk_map *map);  /* frees keys, not values */
void *bk_map_get(const bk_map *map, const char *key);
int bk_map_set(bk_map *map, const char *key, void *value);  /* copies key; 0 or -1 */
void *bk_map_remove(bk_map *map, const char *key);           /* returns the value */
size_t bk_map_size(const bk_map *map);
/* Calls fn for every entry; fn must not change the map. */
void bk_map_each(const bk_map *map, void (*fn)(const char *key, void *value, void *data), void *data);

#endif
