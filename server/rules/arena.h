/* arena.h - a bump allocator owning everything one compiled rule needs.
 *
 * A rule is built once and freed as a whole, so its nodes, strings and lists
 * live in one arena: compiling never has to undo half-built pieces, and
 * freeing a rule is one call. */
#ifndef BK_RULES_ARENA_H
#define BK_RULES_ARENA_H

#include <stddef.h>

typedef struct bk_arena_block bk_arena_block;

typedef struct bk_arena {
    bk_arena_block *head;
} bk_arena;

/* Zero-filled, aligned for any type; NULL when out of memory. */
void *bk_arena_alloc(bk_arena *arena, size_t size);

/* A NUL-terminated copy of `len` bytes of `text`. */
char *bk_arena_strndup(bk_arena *arena, const char *text, size_t len);

/* Frees every block; the arena is empty (and reusable) afterwards. */
void bk_arena_free(bk_arena *arena);

#endif
